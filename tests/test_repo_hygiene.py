"""The repository's own rules: clean notebooks, a complete table of contents, pinned requirements.

Each rule is a small function that returns a list of problems (empty when all is well). The tests
run it on the repository, and a second test shows on a made-up bad example that it does catch
what it is meant to catch.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import nbformat
import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
BOOK = REPO_ROOT / "book"
PAGE_SUFFIXES = (".ipynb", ".md")
SKIP_DIRS = {"_build", ".ipynb_checkpoints", ".jupyter_cache"}


# ---------------------------------------------------------------------------------------------
# The rules


def book_files(root: Path, suffixes: tuple[str, ...] = PAGE_SUFFIXES) -> list[Path]:
    """Files under ``root`` with one of ``suffixes``, outside build and checkpoint folders."""
    found = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if path.is_file() and path.suffix in suffixes and not SKIP_DIRS & set(rel.parts):
            found.append(path)
    return found


def notebook_output_problems(nb: dict) -> list[str]:
    """Code cells that carry outputs or an execution count (notebooks are committed clean)."""
    problems = []
    for i, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        if cell.get("outputs"):
            problems.append(f"cell {i} has {len(cell['outputs'])} output(s)")
        if cell.get("execution_count") is not None:
            problems.append(f"cell {i} has execution_count {cell['execution_count']}")
    return problems


def notebook_format_problems(path: Path) -> list[str]:
    """Not readable, not nbformat 4, or not valid against the nbformat schema."""
    try:
        nb = nbformat.read(path, as_version=nbformat.NO_CONVERT)
    except Exception as exc:  # any read failure is the problem being reported
        return [f"cannot be read as a notebook: {exc}"]
    if nb.get("nbformat") != 4:
        return [f"nbformat is {nb.get('nbformat')!r}, expected 4"]
    try:
        nbformat.validate(nb)
    except nbformat.ValidationError as exc:
        return [f"invalid nbformat 4: {exc.message}"]
    return []


def kernelspec_problems(nb: dict) -> list[str]:
    """The kernel must be the plain ``python3`` that every Jupyter installation has."""
    name = nb.get("metadata", {}).get("kernelspec", {}).get("name")
    if name != "python3":
        return [f"kernelspec name is {name!r}, expected 'python3'"]
    return []


def toc_entries(toc: dict, key: str) -> list[str]:
    """Every value of ``key`` ("file" or "glob") in a jb-book table of contents, in order."""
    found = []

    def walk(node):
        if isinstance(node, dict):
            if key in node:
                found.append(node[key])
            for child in ("parts", "chapters", "sections"):
                walk(node.get(child, []))
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(toc)
    return found


def toc_files(toc: dict) -> list[str]:
    """Every ``file`` (and the ``root``) named in a table of contents, in order."""
    return ([toc["root"]] if "root" in toc else []) + toc_entries(toc, "file")


def toc_globs(toc: dict) -> list[str]:
    """Every ``glob`` pattern in a table of contents."""
    return toc_entries(toc, "glob")


def resolve_toc_entry(root: Path, entry: str) -> Path | None:
    """The file a toc entry names (with or without its suffix), or None."""
    path = root / entry
    if path.suffix in PAGE_SUFFIXES and path.is_file():
        return path
    for suffix in PAGE_SUFFIXES:
        candidate = path.with_name(path.name + suffix)
        if candidate.is_file():
            return candidate
    return None


def toc_problems(root: Path, toc: dict, pages_dir: str = "book") -> list[str]:
    """Entries of the toc that don't exist, and pages under ``pages_dir`` that the toc misses."""
    if toc.get("format") != "jb-book":
        return [f"_toc.yml format is {toc.get('format')!r}, expected 'jb-book'"]
    problems = []
    listed = set()
    entries = toc_files(toc)
    for entry in entries:
        path = resolve_toc_entry(root, entry)
        if path is None:
            problems.append(f"_toc.yml lists {entry!r}, but no such .ipynb or .md file exists")
        else:
            listed.add(path.resolve())
    duplicates = sorted({e for e in entries if entries.count(e) > 1})
    if duplicates:
        problems.append(f"_toc.yml lists these more than once: {duplicates}")
    for pattern in toc_globs(toc):
        for suffix in PAGE_SUFFIXES:
            listed.update(p.resolve() for p in root.glob(pattern + suffix))
    for page in book_files(root / pages_dir):
        if page.resolve() not in listed:
            problems.append(f"{page.relative_to(root)} is not in _toc.yml")
    return problems


def requirement_problems(lines: list[str], torch_version: str = "2.13.0") -> list[str]:
    """Every requirement pinned with ``==``, torch to ``torch_version``."""
    problems = []
    pinned = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==([^\s;=<>!~,]+)(\s*;.*)?$")
    torch_seen = None
    for n, raw in enumerate(lines, start=1):
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        match = pinned.match(line)
        if match is None:
            problems.append(f"line {n} is not pinned with ==: {raw.strip()!r}")
            continue
        if match.group(1).lower() == "torch":
            torch_seen = match.group(3)
    if torch_seen != torch_version:
        problems.append(f"torch must be pinned to =={torch_version}, found {torch_seen!r}")
    return problems


def ci_script_problems(text: str) -> list[str]:
    """The CI script must run ``make test`` (outside a comment)."""
    for line in text.splitlines():
        code = line.split("#", 1)[0]
        if re.search(r"(^|[\s;&|(])make(\s+-\S+)*\s+test(\s|;|$)", code):
            return []
    return ["does not run `make test`"]


# ---------------------------------------------------------------------------------------------
# Helpers for the tests


def repo_notebooks() -> list[Path]:
    return book_files(BOOK, (".ipynb",))


def read_nb(path: Path) -> dict:
    return nbformat.read(path, as_version=nbformat.NO_CONVERT)


def good_notebook() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Title"), nbformat.v4.new_code_cell("1 + 1")]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    return nb


def nb_ids(paths: list[Path]) -> list[str]:
    return [str(p.relative_to(REPO_ROOT)) for p in paths]


NOTEBOOKS = repo_notebooks()


# ---------------------------------------------------------------------------------------------
# (a) notebooks are committed without outputs


def test_book_has_notebooks():
    assert NOTEBOOKS, "no notebook found under book/"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=nb_ids(NOTEBOOKS))
def test_notebook_has_no_outputs(path):
    problems = notebook_output_problems(read_nb(path))
    assert not problems, (
        f"{path.relative_to(REPO_ROOT)} must be committed without outputs: {problems}. "
        "Clear them (JupyterLab: Edit > Clear Outputs of All Cells) and save."
    )


def test_output_check_catches_outputs(tmp_path):
    nb = good_notebook()
    assert notebook_output_problems(nb) == []
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="2\n")]
    nb.cells[1].execution_count = 3
    path = tmp_path / "dirty.ipynb"
    nbformat.write(nb, path)
    problems = notebook_output_problems(read_nb(path))
    assert any("output" in p for p in problems)
    assert any("execution_count 3" in p for p in problems)


def test_file_search_skips_build_and_checkpoints(tmp_path):
    for rel in ("a.ipynb", "x/b.md", "_build/c.ipynb", "x/.ipynb_checkpoints/a-checkpoint.ipynb"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("{}")
    found = [p.relative_to(tmp_path).as_posix() for p in book_files(tmp_path)]
    assert found == ["a.ipynb", "x/b.md"]


# ---------------------------------------------------------------------------------------------
# (b) the table of contents and the pages agree


def test_toc_and_pages_agree():
    toc = yaml.safe_load((REPO_ROOT / "_toc.yml").read_text(encoding="utf-8"))
    problems = toc_problems(REPO_ROOT, toc)
    assert not problems, "\n".join(problems)


def test_toc_check_catches_missing_and_unlisted(tmp_path):
    (tmp_path / "book" / "part1").mkdir(parents=True)
    (tmp_path / "book" / "intro.md").write_text("# Intro\n")
    (tmp_path / "book" / "part1" / "ch01.ipynb").write_text("{}")
    toc = {
        "format": "jb-book",
        "root": "book/intro",
        "parts": [{"caption": "I", "chapters": [{"file": "book/part1/ch01"}]}],
    }
    assert toc_problems(tmp_path, toc) == []

    (tmp_path / "book" / "part1" / "ch02.ipynb").write_text("{}")
    toc["parts"][0]["chapters"].append({"file": "book/part1/ch03"})
    problems = toc_problems(tmp_path, toc)
    assert any("'book/part1/ch03'" in p and "no such" in p for p in problems), problems
    assert any("ch02.ipynb is not in _toc.yml" in p for p in problems), problems


def test_toc_check_reads_sections_and_globs(tmp_path):
    (tmp_path / "book" / "appendix").mkdir(parents=True)
    for name in ("intro.md", "ch.ipynb", "sec.md", "appendix/a.md", "appendix/b.md"):
        (tmp_path / "book" / name).write_text("x")
    toc = {
        "format": "jb-book",
        "root": "book/intro",
        "chapters": [
            {"file": "book/ch", "sections": [{"file": "book/sec.md"}]},
            {"glob": "book/appendix/*"},
        ],
    }
    assert toc_problems(tmp_path, toc) == []
    assert toc_problems(tmp_path, {**toc, "format": "jb-article"})


# ---------------------------------------------------------------------------------------------
# (c) notebooks are valid nbformat 4


@pytest.mark.parametrize("path", NOTEBOOKS, ids=nb_ids(NOTEBOOKS))
def test_notebook_is_valid_nbformat4(path):
    problems = notebook_format_problems(path)
    assert not problems, f"{path.relative_to(REPO_ROOT)}: {problems}"


def test_format_check_catches_invalid_notebooks(tmp_path):
    good = tmp_path / "good.ipynb"
    nbformat.write(good_notebook(), good)
    assert notebook_format_problems(good) == []

    broken = nbformat.v4.new_notebook()
    broken.cells = [nbformat.v4.new_code_cell("x = 1")]
    broken.cells[0]["cell_type"] = "kode"
    bad = tmp_path / "bad.ipynb"
    bad.write_text(nbformat.writes(broken, version=4), encoding="utf-8")
    assert notebook_format_problems(bad)

    old = tmp_path / "old.ipynb"
    old.write_text('{"nbformat": 3, "nbformat_minor": 0, "metadata": {}, "worksheets": []}')
    assert notebook_format_problems(old)

    junk = tmp_path / "junk.ipynb"
    junk.write_text("not json")
    assert notebook_format_problems(junk)


# ---------------------------------------------------------------------------------------------
# (d) requirements.txt pins everything, torch to the CPU wheel's version


def test_requirements_are_pinned():
    lines = (REPO_ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines()
    problems = requirement_problems(lines)
    assert not problems, "\n".join(problems)


def test_requirement_check_catches_loose_pins():
    assert requirement_problems(["# comment", "", "torch==2.13.0", "numpy==2.0.0  # why"]) == []
    problems = requirement_problems(["torch==2.13.0", "numpy>=1.24", "tqdm"])
    assert len(problems) == 2, problems
    assert requirement_problems(["torch>=2.2"])
    assert any("torch" in p for p in requirement_problems(["torch==2.5.0"]))
    assert any("torch" in p for p in requirement_problems(["numpy==2.0.0"]))


# ---------------------------------------------------------------------------------------------
# (e) CI runs `make test`


def test_ci_runs_make_test():
    ci = REPO_ROOT / ".ci" / "run"
    assert ci.is_file(), ".ci/run is missing"
    problems = ci_script_problems(ci.read_text(encoding="utf-8"))
    assert not problems, f".ci/run {problems}"
    if os.name == "posix":
        assert ci.stat().st_mode & stat.S_IXUSR, ".ci/run is not executable"


def test_ci_check_catches_missing_make_test():
    assert ci_script_problems("#!/bin/bash\nset -e\nmake test\n") == []
    assert ci_script_problems("set -e; make -j2 test") == []
    assert ci_script_problems("#!/bin/bash\n# make test\npytest\n")
    assert ci_script_problems("make lint\nmake test-unit\n")


# ---------------------------------------------------------------------------------------------
# (f) notebooks name the standard kernel


@pytest.mark.parametrize("path", NOTEBOOKS, ids=nb_ids(NOTEBOOKS))
def test_notebook_kernel_is_python3(path):
    problems = kernelspec_problems(read_nb(path))
    assert not problems, f"{path.relative_to(REPO_ROOT)}: {problems}"


def test_kernel_check_catches_other_kernels():
    nb = good_notebook()
    assert kernelspec_problems(nb) == []
    nb.metadata["kernelspec"]["name"] = "vidbook-venv"
    assert kernelspec_problems(nb)
    del nb.metadata["kernelspec"]
    assert kernelspec_problems(nb)
