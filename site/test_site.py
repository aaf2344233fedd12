"""The built website in a real browser: every page, as a reader without internet sees it.

Run with ``make test-site`` after ``make book``. The pages are served from ``_build/html`` by a
local HTTP server and opened in headless Chromium (Debian's ``chromium`` package, driven by
Playwright). Any request that leaves 127.0.0.1 is blocked and counts as a failure. A page fails
on a console error, a failed request, TeX left untypeset, a Mermaid block without its SVG, an
animation without frames, a widget that did not render, or an internal link to a missing page
or anchor. A full-page screenshot of each page goes to ``_build/site-check/``.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import shutil
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urldefrag, urljoin, urlparse

import pytest

ROOT = Path(__file__).resolve().parent.parent
HTML = ROOT / "_build" / "html"
SHOTS = ROOT / "_build" / "site-check"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Sphinx's own machinery pages, checked for errors but not for content.
GENERATED = {"genindex.html", "search.html"}


def site_pages() -> list[str]:
    """Every HTML page of the site, relative to its root (static assets excluded)."""
    if not (HTML / "index.html").is_file():
        return []
    skip = ("_static/", "_sources/", "_images/", "_sphinx_design_static/")
    return sorted(
        p.relative_to(HTML).as_posix()
        for p in HTML.rglob("*.html")
        if not p.relative_to(HTML).as_posix().startswith(skip)
    )


def chromium_path() -> str:
    path = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        pytest.fail(
            f"no Chromium at {path}: install Debian's package (apt-get install -y chromium) "
            "or set CHROMIUM=/path/to/chromium"
        )
    return path


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # the test reports failures itself
        pass


@contextlib.contextmanager
def serve(root: Path):
    """An HTTP server for the folder ``root`` on a free local port; yields its base URL."""
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def base_url():
    if not site_pages():
        pytest.fail(f"no built site in {HTML}: run `make book` first")
    with serve(HTML) as url:
        yield url


@pytest.fixture(scope="session")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


class PageProblems(list):
    def add(self, kind: str, detail: str) -> None:
        self.append(f"{kind}: {detail}")


def open_page(browser, url: str):
    """A fresh page at ``url``, with the problems the browser reported while loading it."""
    problems = PageProblems()
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    local = urlparse(url).netloc

    def route(r):
        if urlparse(r.request.url).netloc in (local, "") or r.request.url.startswith("data:"):
            r.continue_()
        else:
            problems.add("request to the internet", r.request.url)
            r.abort()

    page.route("**/*", route)
    page.on("console", lambda m: m.type == "error" and problems.add("console error", m.text))
    page.on("pageerror", lambda e: problems.add("page error", str(e)))
    page.on("requestfailed", lambda r: problems.add("failed request", f"{r.url} ({r.failure})"))
    page.on(
        "response",
        lambda r: r.status >= 400 and problems.add("HTTP error", f"{r.status} {r.url}"),
    )
    page.goto(url, wait_until="load")
    return context, page, problems


# Runs in the page once scripts settled: everything the checks need, as plain data.
_INSPECT = """
async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await MathJax.startup.promise;
  }
  const wait = (ms) => new Promise((r) => setTimeout(r, ms));
  const mermaid = () => [...document.querySelectorAll('.mermaid')];
  for (let i = 0; i < 50 && mermaid().some((m) => !m.querySelector('svg')); i++) await wait(100);
  const widgetScripts = () =>
    [...document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]')];
  for (let i = 0; i < 50 && widgetScripts().some(
        (s) => !s.parentElement.querySelector('.jupyter-widgets')); i++) await wait(100);
  const skip = 'script, style, pre, code, mjx-container, .mermaid, textarea, .highlight';
  const texts = [];
  const walker = document.createTreeWalker(
      document.querySelector('main') || document.body || document.documentElement,
                                           NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    if (!node.parentElement.closest(skip)) texts.push(node.textContent);
  }
  return {
    mathjax: !!(window.MathJax && MathJax.startup),
    math: [...document.querySelectorAll('.math')].map((m) => ({
      typeset: !!m.querySelector('mjx-container'), text: m.textContent.slice(0, 80) })),
    text: texts.join(' '),
    mermaid: mermaid().map((m) => !!m.querySelector('svg')),
    animations: [...document.querySelectorAll('.animation')].map((a) => {
      const img = a.querySelector('img');
      const slider = a.querySelector('input[type=range]');
      return { loaded: !!img && img.complete && img.naturalWidth > 0,
               frames: slider ? Number(slider.max) + 1 : 0 };
    }),
    widgets: widgetScripts().map((s) => !!s.parentElement.querySelector('.jupyter-widgets')),
    links: [...document.querySelectorAll('a[href]')].map((a) => a.getAttribute('href')),
    images: [...document.querySelectorAll('main img')].map((i) => ({
      src: i.getAttribute('src') || '', ok: i.complete && i.naturalWidth > 0 })),
  };
}
"""
# A Markdown table left as text: its rule row "|---|" (typographers turn --- into a dash).
_RAW_TABLE = re.compile(r"\|\s*:?(-{3,}|[\u2014\u2013])\s*:?\|")
_RAW_TEX = re.compile(r"\$\$|\\\(|\\\)|\\\[|\\\]|\\begin\{|\\(frac|mathbf|sum|int|alpha|sigma)\b")


def inspect(tab, tries: int = 3) -> dict:
    """Run the in-page inspection; a page that reloads itself meanwhile is inspected again."""
    for attempt in range(tries):
        try:
            return tab.evaluate(_INSPECT)
        except Exception as err:  # playwright's Error: the page navigated during evaluate
            if "context was destroyed" not in str(err) or attempt == tries - 1:
                raise
            tab.wait_for_load_state("load")
    raise AssertionError("unreachable")


@functools.cache
def anchors_of(path: Path) -> frozenset[str]:
    """Element ids of an HTML file (read from disk)."""
    return frozenset(re.findall(r'\sid="([^"]+)"', path.read_text(encoding="utf-8")))


def broken_links(page: str, links: list[str], root: Path = HTML) -> list[str]:
    """Internal links of ``page`` whose target file or anchor does not exist in the site."""
    broken = []
    base = "http://site/" + page
    for href in links:
        url, fragment = urldefrag(urljoin(base, href))
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or parsed.netloc != "site":
            continue  # external, mailto:, javascript: ...
        target = unquote(parsed.path.lstrip("/")) or "index.html"
        if target.endswith("/"):
            target += "index.html"
        path = root / target
        if not path.is_file():
            broken.append(f"{href} (no file {target})")
        elif fragment and path.suffix == ".html" and unquote(fragment) not in anchors_of(path):
            broken.append(f"{href} (no anchor #{fragment} in {target})")
    return broken


def page_problems(browser, base_url: str, page: str, root: Path = HTML, shots: Path | None = SHOTS):
    """Everything wrong with one page of the site served from ``root`` at ``base_url``."""
    context, tab, problems = open_page(browser, base_url + page)
    try:
        found = inspect(tab)
        if shots is not None:
            shots.mkdir(parents=True, exist_ok=True)
            tab.screenshot(path=str(shots / (page.replace("/", "__") + ".png")), full_page=True)
    finally:
        context.close()

    if page not in GENERATED:
        if found["math"] and not found["mathjax"]:
            problems.add("math", "the page has formulas but MathJax did not load")
        for item in found["math"]:
            if not item["typeset"]:
                problems.add("untypeset math", item["text"])
        raw = _RAW_TEX.search(found["text"])
        if raw:
            start = max(raw.start() - 40, 0)
            problems.add("raw TeX in the text", repr(found["text"][start : raw.end() + 40]))
        table = _RAW_TABLE.search(found["text"])
        if table:
            start = max(table.start() - 60, 0)
            problems.add("raw Markdown table", repr(found["text"][start : table.end() + 20]))
        for i, ok in enumerate(found["mermaid"]):
            if not ok:
                problems.add("mermaid", f"diagram {i + 1} did not become an SVG")
        for i, anim in enumerate(found["animations"]):
            if not anim["loaded"] or anim["frames"] < 2:
                problems.add("animation", f"animation {i + 1}: {anim}")
        for i, ok in enumerate(found["widgets"]):
            if not ok:
                problems.add("widget", f"widget view {i + 1} did not render")
        for img in found["images"]:
            if not img["ok"]:
                problems.add("image", f"{img['src'][:80]} did not load")
    for link in broken_links(page, found["links"], root):
        problems.add("broken link", link)
    return problems


@pytest.mark.parametrize("page", site_pages() or ["index.html"])
def test_page(page: str, base_url: str, browser) -> None:
    problems = page_problems(browser, base_url, page)
    assert not problems, f"{page}:\n  " + "\n  ".join(problems)


def test_search_finds_a_chapter(base_url: str, browser) -> None:
    """The site's search works offline: a query lists the chapter that has the word."""
    context, tab, problems = open_page(browser, base_url + "search.html?q=convolution")
    try:
        tab.wait_for_selector("#search-results li", timeout=15_000)
        # Sphinx lists the results one by one; read them once it says it has finished.
        tab.wait_for_function(
            "() => (document.querySelector('.search-summary')?.innerText || '')"
            ".includes('Search finished')",
            timeout=30_000,
        )
        hits = tab.eval_on_selector_all("#search-results li a", "els => els.map(e => e.href)")
    finally:
        context.close()
    assert any("ch01" in h for h in hits), f"search for 'convolution' found {hits}"
    assert not problems, "\n".join(problems)


def test_every_page_is_checked() -> None:
    """The site has the pages the table of contents promises (a broken build has fewer)."""
    import yaml

    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]] + [c["file"] for part in toc["parts"] for c in part["chapters"]]
    missing = [f for f in files if f + ".html" not in site_pages()]
    assert not missing, f"pages in _toc.yml missing from {HTML}: {missing}"


# Pages that are broken on purpose, one fault each: the checks above must catch every one.
_BROKEN_PAGES = {
    "cdn.html": (
        '<script src="https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-chtml.js"></script>',
        "request to the internet",
    ),
    "error.html": ('<script>throw new Error("boom")</script>', "page error"),
    "tex.html": ("<main><p>the loss is $$\\frac{1}{n}\\sum_i \\ell_i$$</p></main>", "raw TeX"),
    "table.html": (
        "<main><p>| a | b |\n|---|---|\n| 1 | 2 |</p></main>",
        "raw Markdown table",
    ),
    "math.html": ('<main><span class="math">\\(x^2\\)</span></main>', "MathJax did not load"),
    "mermaid.html": ('<main><div class="mermaid">graph LR; a-->b</div></main>', "mermaid"),
    "anim.html": (
        '<main><div class="animation"><img src="missing.png">'
        '<input type="range" max="0"></div></main>',
        "animation",
    ),
    "widget.html": (
        '<main><div><script type="application/vnd.jupyter.widget-view+json">'
        '{"model_id": "x"}</script></div></main>',
        "widget",
    ),
    "links.html": (
        '<main><a href="nope.html">a</a><a href="links.html#nowhere">b</a></main>',
        "broken link",
    ),
}


def test_the_checks_catch_broken_pages(browser, tmp_path) -> None:
    for name, (body, _) in _BROKEN_PAGES.items():
        (tmp_path / name).write_text(f"<!doctype html><html><body>{body}</body></html>")
    (tmp_path / "good.html").write_text(
        '<!doctype html><html><body><main><p id="top">fine</p>'
        '<a href="good.html#top">here</a></main></body></html>'
    )
    with serve(tmp_path) as url:
        assert page_problems(browser, url, "good.html", root=tmp_path, shots=None) == []
        for name, (_, expected) in _BROKEN_PAGES.items():
            problems = page_problems(browser, url, name, root=tmp_path, shots=None)
            assert any(expected in p for p in problems), f"{name}: {problems}"
