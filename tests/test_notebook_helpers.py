"""The book's notebooks use the package's helpers instead of defining their own copies."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

BOOK = Path(__file__).resolve().parent.parent / "book"
SKIP_DIRS = {"_build", ".ipynb_checkpoints", ".jupyter_cache"}
HELPERS = {"show_source": "vidbook.viz", "reversal_test": "vidbook.eval.reversal"}


def notebooks() -> list[Path]:
    return [
        path
        for path in sorted(BOOK.rglob("*.ipynb"))
        if not SKIP_DIRS & set(path.relative_to(BOOK).parts)
    ]


def code_of(path: Path) -> str:
    nb = nbformat.read(path, as_version=4)
    return "\n".join(cell.source for cell in nb.cells if cell.cell_type == "code")


def helper_problems(code: str) -> list[str]:
    """Local copies of the helpers, and calls of a helper not imported from the package."""
    problems = []
    for name, module in HELPERS.items():
        if re.search(rf"^\s*def {name}\s*\(", code, re.MULTILINE):
            problems.append(f"defines its own {name}; use `from {module} import {name}`")
        calls = re.search(rf"(?<![\w.]){name}\(", code)
        imported = re.search(
            rf"^\s*from {re.escape(module)} import [^\n]*\b{name}\b"
            rf"|^\s*from {re.escape(module)} import \([^)]*\b{name}\b[^)]*\)",
            code,
            re.MULTILINE,
        )
        if calls and not imported:
            problems.append(f"calls {name} without `from {module} import {name}`")
    return problems


def test_there_are_notebooks():
    assert notebooks(), f"no notebooks found under {BOOK}"


@pytest.mark.parametrize("path", notebooks(), ids=lambda p: str(p.relative_to(BOOK)))
def test_notebook_uses_the_package_helpers(path):
    assert helper_problems(code_of(path)) == []


def test_the_rule_catches_a_local_copy_and_a_missing_import():
    local = "import inspect\n\n\ndef show_source(*functions):\n    pass\n\n\nshow_source(f)\n"
    assert len(helper_problems(local)) == 2
    wrong = "from vidbook.viz import frame_strip\n\nreversal_test(model, val_set)\n"
    assert helper_problems(wrong) == [
        "calls reversal_test without `from vidbook.eval.reversal import reversal_test`"
    ]
    good = (
        "from vidbook.viz import (\n    frame_strip,\n    show_source,\n)\n"
        "from vidbook.eval.reversal import reversal_test\n\n"
        "show_source(f)\nreversal_test(model, val_set)\n"
    )
    assert helper_problems(good) == []
