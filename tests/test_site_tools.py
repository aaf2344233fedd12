"""The website's tooling: pinned assets, the Sphinx extension, and nbval runs kept for the site."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from io import BytesIO
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "site"))

import fetch_assets  # noqa: E402
import vidbook_sphinx  # noqa: E402


def _tarball(path: Path, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo("package/" + name)
            info.size = len(data)
            tar.addfile(info, BytesIO(data))
    return path


def _pkg(tarball: Path, **overrides) -> dict:
    pkg = {
        "package": "demo",
        "version": "1.0.0",
        "integrity": fetch_assets.sri_sha512(tarball),
        "dest": "demo",
        "strip": "dist",
        "include": ["dist/*.js", "dist/fonts/**"],
    }
    return pkg | overrides


def test_pinned_spec_lists_the_site_assets():
    packages = fetch_assets.load_spec()
    names = {p["package"] for p in packages}
    assert {"mathjax", "mermaid", "requirejs", "@jupyter-widgets/html-manager"} <= names
    assert all(p["integrity"].startswith("sha512-") for p in packages)
    config = (ROOT / "_config.yml").read_text()
    for path in ("vendor/mathjax/tex-chtml.js", "vendor/mermaid/mermaid.esm.min.mjs"):
        assert path in config, f"_config.yml does not serve {path}"


def test_extract_copies_only_the_listed_files_and_strips_the_prefix(tmp_path):
    tarball = _tarball(
        tmp_path / "demo-1.0.0.tgz",
        {
            "dist/a.js": b"A",
            "dist/a.js.map": b"map",
            "dist/fonts/x.woff2": b"F",
            "src/a.ts": b"src",
            "package.json": b"{}",
        },
    )
    counts = fetch_assets.extract(_pkg(tarball), tarball, tmp_path / "out")
    got = sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*"))
    assert got == ["demo", "demo/a.js", "demo/fonts", "demo/fonts/x.woff2"]
    assert counts == {"files": 2, "bytes": 2}


def test_a_tarball_that_does_not_match_its_pin_is_refused_and_removed(tmp_path):
    tarball = _tarball(tmp_path / "demo-1.0.0.tgz", {"dist/a.js": b"A"})
    pkg = _pkg(tarball, integrity="sha512-" + "A" * 86 + "==")
    with pytest.raises(fetch_assets.AssetError, match="integrity"):
        fetch_assets.npm_pack(pkg, tmp_path)
    assert not tarball.exists()


def test_patterns_that_match_nothing_are_an_error(tmp_path):
    tarball = _tarball(tmp_path / "demo-1.0.0.tgz", {"lib/a.js": b"A"})
    with pytest.raises(fetch_assets.AssetError, match="matched"):
        fetch_assets.extract(_pkg(tarball), tarball, tmp_path / "out")


def test_a_broken_spec_file_names_the_file(tmp_path):
    bad = tmp_path / "assets.json"
    bad.write_text('{"packages": [{"package": "x"}]}')
    with pytest.raises(fetch_assets.AssetError, match=r"assets.json.*lacks"):
        fetch_assets.load_spec(bad)
    bad.write_text("not json")
    with pytest.raises(fetch_assets.AssetError, match="expected a JSON object"):
        fetch_assets.load_spec(bad)


def test_run_note_reads_the_expected_minutes_of_a_chapter(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Title"),
        nbformat.v4.new_code_cell(
            "import vidbook\nvidbook.setup_notebook(expected_minutes=2.5, seed=0)"
        ),
    ]
    path = tmp_path / "ch.ipynb"
    nbformat.write(nb, path)
    assert vidbook_sphinx.expected_minutes(path) == 2.5
    note = vidbook_sphinx.run_note("book/ch.ipynb", 2.5).astext()
    assert "make lab" in note and "book/ch.ipynb" in note and "2.5 min" in note
    nb.cells[1].source = 'facts = vidbook.setup_notebook(expected_minutes={"quick": 2, "full": 4})'
    nbformat.write(nb, path)
    assert vidbook_sphinx.expected_minutes(path) == 2.0
    nb.cells[1].source = "%matplotlib inline\nvidbook.setup_notebook(seed=0)"
    nbformat.write(nb, path)
    assert vidbook_sphinx.expected_minutes(path) is None


def _nbval_record(path: Path, cache_dir: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "nbval_record",
            f"--nbval-record={cache_dir}",
            "--nbval-lax",
            "--nbval-current-env",
            "-p",
            "no:cacheprovider",
            str(path),
        ],
        cwd=path.parent,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT / "site")},
    )


@pytest.mark.slow
def test_nbval_runs_are_cached_as_the_site_build_would_find_them(tmp_path):
    """A notebook run once under nbval lands in the Jupyter cache with its outputs."""
    from jupyter_cache import get_cache

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = [
        nbformat.v4.new_markdown_cell("# A page"),
        nbformat.v4.new_code_cell("x = 6 * 7\nprint('x is', x)"),
        nbformat.v4.new_code_cell(
            "from IPython.display import display, HTML\n"
            "h = display(HTML('<b>old</b>'), display_id=True)\n"
            "h.update(HTML('<b>new</b>'))\nx"
        ),
    ]
    path = tmp_path / "page.ipynb"
    nbformat.write(nb, path)
    cache_dir = tmp_path / "cache"
    run = _nbval_record(path, cache_dir)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "cached page.ipynb" in run.stdout
    cache = get_cache(str(cache_dir))
    record = cache.match_cache_notebook(nbformat.read(path, as_version=4))  # the site's lookup
    cached = cache.get_cache_bundle(record.pk).nb
    code = [c for c in cached.cells if c.cell_type == "code"]
    assert code[0].outputs[0]["text"] == "x is 42\n"
    html = [o for o in code[1].outputs if o["output_type"] == "display_data"]
    assert html[0]["data"]["text/html"] == "<b>new</b>"  # the update replaced the first display
    assert code[1].outputs[-1]["data"]["text/plain"] == "42"
    assert json.loads(json.dumps(cached))  # serialisable as a notebook


def _python_notebook(cells: list[str]) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    return nb


@pytest.mark.slow
def test_output_widgets_are_replayed_into_the_widget_state(tmp_path):
    """What a cell prints into an Output widget (as ``interact`` does) is kept for the page."""
    from jupyter_cache import get_cache

    nb = _python_notebook(
        [
            "import ipywidgets as widgets\nout = widgets.Output()\ndisplay(out)\n"
            "with out:\n    print('drawn inside the widget')",
            "out.clear_output()\nwith out:\n    print('second draw')",
        ]
    )
    path = tmp_path / "widget.ipynb"
    nbformat.write(nb, path)
    run = _nbval_record(path, tmp_path / "cache")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "cached widget.ipynb" in run.stdout
    cache = get_cache(str(tmp_path / "cache"))
    cached = cache.get_cache_bundle(cache.match_cache_notebook(nb).pk).nb
    states = cached.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    outputs = [s["state"]["outputs"] for s in states.values() if s["model_name"] == "OutputModel"]
    assert outputs == [[{"output_type": "stream", "name": "stdout", "text": "second draw\n"}]]


@pytest.mark.slow
def test_a_notebook_with_a_failing_cell_is_not_cached(tmp_path):
    from jupyter_cache import get_cache

    nb = _python_notebook(["x = 1", "1 / 0"])
    path = tmp_path / "broken.ipynb"
    nbformat.write(nb, path)
    run = _nbval_record(path, tmp_path / "cache")
    assert run.returncode != 0 and "ZeroDivisionError" in run.stdout
    assert "broken.ipynb not cached" in run.stdout
    with pytest.raises(KeyError):
        get_cache(str(tmp_path / "cache")).match_cache_notebook(nbformat.read(path, as_version=4))
