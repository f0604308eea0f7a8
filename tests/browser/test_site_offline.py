"""The static site (`course site`, course/site.py) opened from disk in headless Chromium with every
request that is not a file refused: the cells render, the widgets draw from their saved state with
their own embedded modules, plotly figures draw from the inlined plotly.js, and nothing asks the
network. A small notebook checks the machinery quickly; the slow test builds the whole site."""

from __future__ import annotations

import subprocess
import sys

import nbformat
import pytest

from conftest import SHOTS
from course import notebooks, site

pytestmark = pytest.mark.browser

HOSTILE = "<img src=x onerror=window.__pwned=1>"


def open_offline(browser, path):
    """Open a page from disk; returns (page, requests refused, page errors)."""
    page = browser.new_page(viewport={"width": 1300, "height": 900})
    refused, errors = [], []
    page.route(lambda url: not url.startswith(("file:", "data:", "blob:")),
               lambda route: (refused.append(route.request.url), route.abort()))
    page.on("requestfailed", lambda r: refused.append(f"{r.url} ({r.failure})"))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(path.as_uri())
    return page, refused, errors


def wait_drawn(page, attr, n):
    if n:
        page.wait_for_selector(f"body[data-{attr}='{n}/{n}']", timeout=60_000)


def test_small_page_draws_widgets_and_plots_offline(browser, tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_markdown_cell("# A small chapter\nSome *text*."),
        nbformat.v4.new_code_cell("from widgets import TokenView\nprint('hello from the kernel')"),
        nbformat.v4.new_code_cell(f"TokenView(['a', {HOSTILE!r}, 'c'], [0.1, 0.5, 0.9])"),
        nbformat.v4.new_code_cell("TokenView(['x', 'y'], [1.0, -1.0], cmap='diverging')"),
        nbformat.v4.new_code_cell("import plotly.graph_objects as go\ngo.Figure(go.Heatmap(z=[[1, 2], [3, 4]]))"),
    ]
    site.execute(nb, tmp_path)
    path = tmp_path / "small.html"
    html = site.render(nb, "A small chapter")
    path.write_text(html)
    assert site.external_loads(html) == []
    assert html.count('id="course-esm-') == 1, "one module per widget class, however many views"
    assert html.count("Plotly.newPlot") == 1

    page, refused, errors = open_offline(browser, path)
    try:
        wait_drawn(page, "widgets", 2)
        wait_drawn(page, "plots", 1)
        assert page.locator(".jp-Cell").count() == 5
        assert "hello from the kernel" in page.inner_text("body")
        assert page.locator(".cw-tv").count() == 2
        assert HOSTILE.replace(" ", "·") in page.locator(".cw-tv").first.inner_text()
        assert page.locator(".course-plotly .main-svg").count() >= 1
        page.locator(".course-plotly .nsewdrag").first.hover()  # interactive: plotly answers a hover
        page.wait_for_selector(".course-plotly .hoverlayer .hovertext", timeout=10_000)
        page.screenshot(path=SHOTS / "site_small.png", full_page=True)
        assert page.evaluate("() => window.__pwned") is None
        assert refused == [] and errors == []
    finally:
        page.close()


@pytest.fixture(scope="session")
def built_site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    result = subprocess.run([sys.executable, "-m", "course.cli", "site", str(out)], cwd=out,
                            capture_output=True, text=True, timeout=3600)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return out


@pytest.mark.slow
def test_whole_site_opens_from_disk(built_site, browser):
    SHOTS.mkdir(parents=True, exist_ok=True)
    chapters = notebooks.chapter_notebooks()
    page, refused, errors = open_offline(browser, built_site / "index.html")
    try:
        hrefs = page.eval_on_selector_all("li a", "els => els.map(e => e.getAttribute('href'))")
        assert hrefs == [f"{p.stem}.html" for p in chapters]
    finally:
        page.close()
    assert refused == [] and errors == []

    for path in chapters:
        target = built_site / f"{path.stem}.html"
        html = target.read_text()
        assert site.external_loads(html) == [], path.name
        n_widgets = html.count('class="course-widget"')
        n_plots = html.count('class="course-plotly"')
        n_cells = len(nbformat.read(path, as_version=4).cells)
        page, refused, errors = open_offline(browser, target)
        try:
            wait_drawn(page, "widgets", n_widgets)
            wait_drawn(page, "plots", n_plots)
            assert page.locator(".jp-Cell").count() == n_cells, path.name
            assert page.locator(".jp-OutputArea-output").count() > 0, path.name
            assert page.locator(".course-widget[data-failed]").count() == 0, path.name
            assert page.locator(".course-plotly .main-svg").count() >= n_plots
            page.screenshot(path=SHOTS / f"site_{path.stem[:2]}.png")
        finally:
            page.close()
        assert refused == [], f"{path.name} asked the network for {refused}"
        assert errors == [], f"{path.name}: {errors}"
        print(f"{target.name}: {n_cells} cells, {n_widgets} widgets, {n_plots} plots, {len(html) / 1e6:.1f} MB")
