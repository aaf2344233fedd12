"""Sphinx extension for the book's website: a "run this chapter" note on every notebook page.

The note sits after the chapter's opening question and says how to open the notebook in Jupyter from a
clone of the repository, how long it takes in the quick profile (read from the chapter's
``vidbook.setup_notebook(expected_minutes=...)`` call), and that the download button above the
page gives the ``.ipynb``.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.builders.html._assets import _JavaScript


def expected_minutes(notebook: Path) -> float | None:
    """The quick-profile minutes a chapter passes to ``vidbook.setup_notebook``, if any.

    ``expected_minutes`` is a number, or a dict by profile (``{"quick": 2, "full": 4}``).
    """
    try:
        cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    except (OSError, ValueError, KeyError):
        return None
    for cell in cells:
        if cell.get("cell_type") != "code":
            continue
        try:
            tree = ast.parse("".join(cell.get("source", "")))
        except SyntaxError:  # IPython magics
            continue
        for node in ast.walk(tree):
            func = getattr(node, "func", None)
            name = getattr(func, "attr", None) or getattr(func, "id", None)
            if not isinstance(node, ast.Call) or name != "setup_notebook":
                continue
            for keyword in node.keywords:
                if keyword.arg == "expected_minutes":
                    try:
                        value = ast.literal_eval(keyword.value)
                    except ValueError:
                        return None
                    value = value.get("quick") if isinstance(value, dict) else value
                    return float(value) if isinstance(value, int | float) else None
    return None


def run_note(rel_path: str, minutes: float | None) -> nodes.admonition:
    """The admonition placed under a notebook page's title."""
    note = nodes.admonition(classes=["tip", "vidbook-run-note"])
    note += nodes.title(text="Run this chapter yourself")
    para = nodes.paragraph()
    para += nodes.Text("In a clone of the repository, ")
    para += nodes.literal(text="make lab")
    para += nodes.Text(" opens JupyterLab; open ")
    para += nodes.literal(text=rel_path)
    para += nodes.Text(" and run all cells")
    if minutes is not None:
        para += nodes.Text(f" (about {minutes:g} min on a laptop CPU in the quick profile; ")
        para += nodes.literal(text="VIDBOOK_PROFILE=full")
        para += nodes.Text(" trains at full size, best on a GPU)")
    para += nodes.Text(". The download button at the top of the page gives the notebook file.")
    note += para
    return note


def add_run_note(app: Sphinx, doctree: nodes.document) -> None:
    docname = app.env.docname
    source = Path(app.env.doc2path(docname))
    if source.suffix != ".ipynb":
        return
    section = next(iter(doctree.findall(nodes.section)), None)
    if section is None:
        return
    rel_path = source.relative_to(app.srcdir).as_posix()
    # After the chapter's opening text (its question), before its first sub-section.
    index = next(
        (i for i, child in enumerate(section.children) if isinstance(child, nodes.section)),
        len(section.children),
    )
    section.insert(index, run_note(rel_path, expected_minutes(source)))


def dedupe_scripts(app: Sphinx, pagename, templatename, context: dict, doctree) -> None:
    """Drop repeated ``<script>`` entries (same file or same inline body).

    Extensions that add their scripts in ``env-before-read-docs`` (sphinx-thebe) add them again
    when that event fires a second time (sphinxcontrib-bibtex re-reads documents); a repeated
    inline ``const`` declaration is then a JavaScript error on the page.
    """
    scripts = context.get("script_files", [])
    seen, unique = set(), []
    for script in scripts:
        attributes = getattr(script, "attributes", {})
        key = (
            getattr(script, "filename", None) or "",
            tuple(sorted(attributes.items())),
        )  # None == ""
        if key not in seen:
            seen.add(key)
            unique.append(script)
    scripts[:] = unique  # in place: the list is the builder's own


def configure_widget_loader(app: Sphinx, pagename, templatename, context: dict, doctree) -> None:
    """Tell RequireJS where the widget manager lives, so that it finds its own font files.

    The widget manager (``embed-amd.js``) loads its icon fonts relative to the URL RequireJS
    gives its module; without a ``paths`` entry that URL is relative to the page, not to
    ``_static/vendor/html-manager/``.
    """
    scripts = context.get("script_files", [])
    names = [getattr(s, "filename", "") or "" for s in scripts]
    index = next((i for i, n in enumerate(names) if n.endswith("html-manager/embed-amd.js")), None)
    if index is None:
        return
    folder = context["pathto"]("_static/vendor/html-manager", resource=True)
    body = (
        "require.config({paths: {'@jupyter-widgets/html-manager/dist': "
        f"new URL({folder!r}, document.baseURI).href}}}});"
    )
    scripts.insert(index, _JavaScript("", priority=scripts[index].priority, body=body))


def setup(app: Sphinx) -> dict:
    app.connect("doctree-read", add_run_note)
    # Late (priority 900), after the extensions that add scripts in this event.
    app.connect("html-page-context", dedupe_scripts, priority=900)
    app.connect("html-page-context", configure_widget_loader, priority=901)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
