"""The package's layers, read from its source: imports point downward only, modules stay small.

    runtime (errors, checks, clip_shape, runtime, claims, distributed)
      <- data, scratch, optim, viz        (viz: runtime, tensors and scratch's tensor functions)
      <- models
      <- eval                             (scoring: the field's metrics, the grader)
      <- train                            (a task's run reports its field metric)
      <- bench
      <- cli

A module may import its own layer's package and any layer below it, never one above. Every
import counts, including those inside functions (a lazy import is still a dependency).
A module longer than 400 lines must say why near its top ("longer than 400 lines because").
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "vidbook"
RUNTIME_MODULES = {"errors", "checks", "clip_shape", "runtime", "claims", "distributed"}
# Which layers each layer may import (its own included).
ALLOWED = {
    "runtime": {"runtime"},
    "data": {"runtime", "data"},
    "scratch": {"runtime", "scratch"},
    "optim": {"runtime", "optim"},
    "viz": {"runtime", "scratch", "viz"},
    "models": {"runtime", "data", "scratch", "optim", "models"},
    "train": {"runtime", "data", "scratch", "optim", "models", "eval", "train"},
    "eval": {"runtime", "data", "scratch", "optim", "models", "eval"},
    "bench": {"runtime", "data", "scratch", "optim", "models", "train", "eval", "bench"},
    "cli": {
        "runtime",
        "data",
        "scratch",
        "optim",
        "viz",
        "models",
        "train",
        "eval",
        "bench",
        "cli",
    },
}
MAX_LINES = 400
REASON = "longer than 400 lines because"


def layer_of(module: str) -> str:
    """The layer of a dotted module name inside the package (``vidbook.data.synth`` -> data)."""
    parts = module.split(".")
    if parts[0] != "vidbook":
        raise ValueError(f"{module} is not a vidbook module")
    if len(parts) == 1 or parts[1] in RUNTIME_MODULES:
        return "runtime"
    if parts[1] in ("cli", "__main__"):
        return "cli"
    if parts[1] not in ALLOWED:
        raise ValueError(f"{module}: no layer is known for vidbook.{parts[1]}; add it to ALLOWED")
    return parts[1]


def module_name(path: Path, root: Path = PACKAGE) -> str:
    rel = path.relative_to(root.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(source: str, module: str, is_package: bool) -> set[str]:
    """Every vidbook module ``source`` imports, absolute or relative, at any depth."""
    found = set()
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            found.add(name)
            # "from vidbook import bench" imports the module vidbook.bench
            found.update(f"{name}.{alias.name}" for alias in node.names if name == "vidbook")
    return {m for m in found if m == "vidbook" or m.startswith("vidbook.")}


def layering_problems(root: Path = PACKAGE) -> list[str]:
    problems = []
    for path in sorted(root.rglob("*.py")):
        module = module_name(path, root)
        layer = layer_of(module)
        source = path.read_text()
        for target in sorted(imported_modules(source, module, path.name == "__init__.py")):
            if target == "vidbook":
                continue  # the package's own __init__: errors and runtime only
            if layer_of(target) not in ALLOWED[layer]:
                problems.append(
                    f"{module} ({layer}) imports {target} ({layer_of(target)}): a lower layer may "
                    "not import a higher one"
                )
    return problems


def length_problems(root: Path = PACKAGE) -> list[str]:
    problems = []
    for path in sorted(root.rglob("*.py")):
        lines = path.read_text().splitlines()
        top = " ".join(lines[:30])
        if len(lines) > MAX_LINES and REASON not in " ".join(top.split()):
            problems.append(
                f"{module_name(path, root)}: {len(lines)} lines and no sentence near its top "
                f"saying why it is {REASON} ..."
            )
    return problems


def test_imports_point_down_only():
    assert layering_problems() == []


def test_long_modules_say_why():
    assert length_problems() == []


def test_the_package_init_imports_only_the_runtime_layer():
    source = (PACKAGE / "__init__.py").read_text()
    targets = imported_modules(source, "vidbook", is_package=True)
    assert {layer_of(t) for t in targets} == {"runtime"}, targets


# ----- the checks catch what they are meant to catch ---------------------------------------------


def _write(root: Path, rel: str, text: str) -> None:
    path = root / "vidbook" / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_an_upward_import_is_caught(tmp_path):
    _write(tmp_path, "__init__.py", "")
    _write(tmp_path, "data/__init__.py", "")
    _write(tmp_path, "data/synth.py", "def f():\n    from vidbook.train import Trainer\n")
    _write(tmp_path, "models/__init__.py", "from . import c3d\n")
    _write(tmp_path, "models/c3d.py", "from ..data import synth\nfrom vidbook import runtime\n")
    problems = layering_problems(tmp_path / "vidbook")
    assert len(problems) == 1, problems
    assert "vidbook.data.synth (data) imports vidbook.train (train)" in problems[0]


def test_relative_and_from_package_imports_are_resolved():
    found = imported_modules(
        "from ..models import build\nfrom vidbook import bench\n",
        "vidbook.train.runner",
        is_package=False,
    )
    assert found == {"vidbook.models", "vidbook", "vidbook.bench"}


def test_a_long_module_without_a_reason_is_caught(tmp_path):
    body = "x = 1\n" * (MAX_LINES + 1)
    _write(tmp_path, "__init__.py", "")
    _write(tmp_path, "big.py", '"""Big."""\n' + body)
    _write(tmp_path, "fine.py", f'"""Big: this module is\n{REASON} it is one table."""\n' + body)
    problems = length_problems(tmp_path / "vidbook")
    assert len(problems) == 1 and problems[0].startswith("vidbook.big:"), problems


def test_an_unknown_subpackage_is_an_error():
    with pytest.raises(ValueError, match="no layer is known for vidbook.newthing"):
        layer_of("vidbook.newthing.x")
