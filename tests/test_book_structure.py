"""The book's structure: chapter numbers that match the file names, and a source map that covers
every section of the overview the book follows.

Each rule is a small function that returns a list of problems (empty when all is well); the tests
run it on the repository and on a made-up bad example that it must catch.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
BOOK = REPO_ROOT / "book"

# Every numbered section of the overview (its table of contents, plus 7.4, which only its body has).
SOURCE_SECTIONS = (
    "1.1 1.2 2.1 2.2 3.1 3.2 3.3 4.1 4.2 4.3 4.4 5.1 5.2 5.3 6.1 6.2 6.3 "
    "7.1 7.2 7.3 7.4 8.1 8.2 8.3 9.1 9.2 9.3 9.4 10.1 10.2 10.3"
).split()

CHAPTER_FILE = re.compile(r"^ch(\d\d)([a-z]?)_")
REF_ROLE = re.compile(r"\{(?:ref|numref)\}`(?:[^`<]*<)?([^`<>]+?)>?`")
# A MyST target line ``(label)=``, or a directive's ``:name:`` (figures, tables) or ``:label:`` (math).
TARGET = re.compile(r"^(?:\(([A-Za-z0-9_.:-]+)\)=|\s*:(?:name|label):\s*(\S+))\s*$", re.MULTILINE)


# ---------------------------------------------------------------------------------------------
# The rules


def chapter_number_problems(toc: dict, continuous: bool) -> list[str]:
    """Chapter files ``chNN_*`` whose NN is not the number Jupyter Book gives them.

    Jupyter Book numbers the chapters of each ``numbered: true`` part; with
    ``html.use_multitoc_numbering`` (``continuous``) the count goes on from one numbered part to
    the next, without it every part starts again at 1. A section's file must carry its chapter's
    number (``ch04a_...`` under ``ch04_...``).
    """
    problems = []
    number = 0
    for part in toc.get("parts", []):
        if not part.get("numbered"):
            continue
        if not continuous:
            number = 0
        for chapter in part.get("chapters", []):
            number += 1
            name = Path(chapter["file"]).name
            match = CHAPTER_FILE.match(name)
            if match is None or int(match.group(1)) != number:
                problems.append(f"{chapter['file']} is numbered chapter {number} by Jupyter Book")
                continue
            for section in chapter.get("sections", []):
                inner = CHAPTER_FILE.match(Path(section["file"]).name)
                if inner is None or int(inner.group(1)) != number:
                    problems.append(f"{section['file']} is a section of chapter {number}")
    return problems


def source_map_problems(text: str, sections: tuple[str, ...] | list[str]) -> list[str]:
    """Sections of the overview without a row in the map, or whose row links to nothing."""
    problems = []
    for section in sections:
        rows = [line for line in text.splitlines() if line.startswith(f"| {section} |")]
        if len(rows) != 1:
            problems.append(f"section {section} has {len(rows)} rows in the source map")
        elif "{ref}" not in rows[0] and "{doc}" not in rows[0]:
            problems.append(f"section {section} links to no page of the book")
    return problems


def page_text(path: Path) -> str:
    """The Markdown of a page: the file itself, or the markdown cells of a notebook."""
    if path.suffix == ".ipynb":
        nb = nbformat.read(path, as_version=4)
        return "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    return path.read_text(encoding="utf-8")


def unknown_reference_problems(pages: dict[str, str]) -> list[str]:
    """``{ref}`` and ``{numref}`` targets that no page defines with ``(label)=``."""
    defined = {a or b for text in pages.values() for a, b in TARGET.findall(text)}
    problems = []
    for name, text in pages.items():
        for label in REF_ROLE.findall(text):
            if label not in defined:
                problems.append(f"{name} refers to {label!r}, which no page defines")
    return problems


def book_pages() -> dict[str, str]:
    pages = {}
    for path in sorted(BOOK.rglob("*")):
        if path.suffix in (".md", ".ipynb") and not {"_build", ".ipynb_checkpoints"} & set(
            path.parts
        ):
            pages[str(path.relative_to(REPO_ROOT))] = page_text(path)
    return pages


# ---------------------------------------------------------------------------------------------
# The repository


def test_chapter_files_carry_their_chapter_numbers():
    toc = yaml.safe_load((REPO_ROOT / "_toc.yml").read_text(encoding="utf-8"))
    config = yaml.safe_load((REPO_ROOT / "_config.yml").read_text(encoding="utf-8"))
    continuous = bool(config.get("html", {}).get("use_multitoc_numbering", False))
    assert continuous, "the parts' chapters are numbered 1 to 11 only with use_multitoc_numbering"
    problems = chapter_number_problems(toc, continuous)
    assert not problems, "\n".join(problems)


def test_source_map_covers_every_section_of_the_overview():
    text = (BOOK / "source_map.md").read_text(encoding="utf-8")
    problems = source_map_problems(text, SOURCE_SECTIONS)
    assert not problems, "\n".join(problems)


def test_every_reference_has_a_target():
    pages = book_pages()
    assert "book/source_map.md" in pages
    problems = unknown_reference_problems(pages)
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------------------------------------
# The rules catch what they are meant to catch


def _toc(*parts: tuple[bool, list]) -> dict:
    return {
        "format": "jb-book",
        "root": "book/intro",
        "parts": [
            {"caption": str(i), "numbered": n, "chapters": c} for i, (n, c) in enumerate(parts)
        ],
    }


def test_numbering_rule_follows_jupyter_books_count():
    first = [
        {"file": "book/p1/ch01_a"},
        {"file": "book/p1/ch02_b", "sections": [{"file": "x/ch02a_c"}]},
    ]
    second = [{"file": "book/p2/ch03_d"}]
    appendix = [{"file": "book/appendix/glossary"}]
    toc = _toc((True, first), (True, second), (False, appendix))
    assert chapter_number_problems(toc, continuous=True) == []
    # Without multitoc numbering the second part starts again at 1.
    assert chapter_number_problems(toc, continuous=False) == [
        "book/p2/ch03_d is numbered chapter 1 by Jupyter Book"
    ]
    # Chapter 7's notebooks listed as chapters instead of sections push the capstone to 10.
    wrong = _toc((True, first), (True, [{"file": "book/p3/ch03_x"}, {"file": "book/p3/ch03a_y"}]))
    assert chapter_number_problems(wrong, continuous=True) == [
        "book/p3/ch03a_y is numbered chapter 4 by Jupyter Book"
    ]
    section = _toc((True, [{"file": "a/ch01_a", "sections": [{"file": "a/ch02a_b"}]}]))
    assert chapter_number_problems(section, continuous=True) == [
        "a/ch02a_b is a section of chapter 1"
    ]


def test_source_map_rule_catches_missing_and_unlinked_rows():
    text = "| 1.1 | 背景 | Background | {doc}`x` | — |\n| 1.2 | 重要性 | Importance | chapter 1 | — |\n"
    assert source_map_problems(text, ["1.1"]) == []
    assert source_map_problems(text, ["1.1", "1.2", "2.1"]) == [
        "section 1.2 links to no page of the book",
        "section 2.1 has 0 rows in the source map",
    ]


def test_reference_rule_catches_unknown_labels():
    pages = {
        "a.md": "(sec-a)=\n## A\n\nsee {ref}`the other <sec-b>` and {numref}`sec-a`\n",
        "b.md": "(sec-b)=\n## B\n\nsee {ref}`sec-c` and {numref}`fig-d`\n",
        "c.md": "```{figure} d.png\n:name: fig-d\n```\n",
    }
    assert unknown_reference_problems(pages) == ["b.md refers to 'sec-c', which no page defines"]
