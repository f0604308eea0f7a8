"""course/site.py without a kernel or a browser: widget state read from a run, outputs turned into
offline HTML (each widget module once), and the check that no page loads anything from the network.
The pages themselves are opened in Chromium by tests/browser/test_site_offline.py."""

import base64

import nbformat

from course import cli, site


def run_with(outputs_per_cell, state):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Chapter 99: A title\ntext")]
    for outputs in outputs_per_cell:
        cell = nbformat.v4.new_code_cell("x")
        cell.outputs = [nbformat.v4.new_output("display_data", data=d) for d in outputs]
        nb.cells.append(cell)
    nb.metadata["widgets"] = {site.WIDGET_STATE: {"version_major": 2, "version_minor": 0, "state": state}}
    return nb


def anymodel(esm, **traits):
    return {"model_name": "AnyModel", "model_module": "anywidget",
            "state": {"_esm": esm, "_css": ".a{}", "_model_name": "AnyModel", "layout": "IPY_MODEL_L", **traits},
            "buffers": [{"path": ["values"], "data": base64.b64encode(b"\0\0\x80?").decode(), "encoding": "base64"}]}


STATE = {
    "w1": anymodel("export default {render(){}}", tokens=["a"]),
    "w2": anymodel("export default {render(){}}", tokens=["b"]),
    "L": {"model_name": "LayoutModel", "model_module": "@jupyter-widgets/base", "state": {"width": None}},
}


def view(model_id):
    return {site.WIDGET_VIEW: {"version_major": 2, "version_minor": 1, "model_id": model_id},
            "text/plain": f"<widgets.token_view.TokenView object at 0x{model_id.encode().hex()}>"}


def test_saved_widgets_keeps_anywidget_models_and_their_buffers():
    widgets = site.saved_widgets(run_with([], STATE))
    assert set(widgets) == {"w1", "w2"}  # the layout model draws nothing by itself
    assert widgets["w1"]["traits"] == {"tokens": ["a"]}  # no private or bookkeeping traits
    assert widgets["w1"]["buffers"] == {"values": base64.b64encode(b"\0\0\x80?").decode()}


def test_page_embeds_each_module_once_and_replaces_views_and_figures():
    nb = run_with([[view("w1")], [view("w2"), {site.PLOTLY: {"data": [{"type": "heatmap", "z": [[1]]}], "layout": {}}}],
                   [view("gone")]], STATE)
    page = site.Page(site.saved_widgets(nb))
    page.convert(nb)
    assert "widgets" not in nb.metadata
    html = [o.data["text/html"] for c in nb.cells[1:] for o in c.outputs]
    assert all(site.WIDGET_VIEW not in o.data for c in nb.cells[1:] for o in c.outputs)
    assert 'data-model-id="w1"' in html[0] and "course-plotly" in html[2]
    assert "TokenView" in html[3] and set(page.models) == {"w1", "w2"}  # an unknown view keeps its fallback text
    runtime = page.runtime()
    assert runtime.count('id="course-esm-') == 1 and runtime.count("<style>") == 1
    assert "function savedModel" in runtime and "Plotly.newPlot" in runtime


def test_a_page_without_widgets_or_plots_carries_no_runtime():
    assert site.Page({}).runtime() == ""


def test_external_loads_finds_cdn_scripts_but_not_links():
    page = ('<script src="https://cdn.example/x.js"></script><link href="//fonts.example/f.css" rel="stylesheet">'
            '<a href="https://example.org">a link is not a load</a><script src="local.js"></script>'
            '<style>@import url("https://x.example/y.css");</style>')
    assert site.external_loads(page) == ["https://cdn.example/x.js", "//fonts.example/f.css", "https://x.example/y.css"]


def test_inline_text_cannot_close_its_element():
    assert "</script" not in site._inline("a = '</script><b>'; b = '</STYLE>'").lower()


def test_render_has_no_network_loads_and_the_chapter_title():
    nb = run_with([[view("w1")]], STATE)
    html = site.render(nb, site.chapter_title(nb), nav='<nav class="course-nav"></nav>')
    assert site.chapter_title(nb) == "Chapter 99: A title"
    assert "<title>Chapter 99: A title</title>" in html and 'class="course-nav"' in html
    assert site.external_loads(html) == []


def test_cli_has_a_site_command(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(site, "build", lambda out, chapters, timeout: calls.append((out, chapters, timeout)) or ([out / "index.html"], []))
    assert cli.main(["site", str(tmp_path), "--chapter", "0", "--timeout", "60"]) == 0
    (out, chapters, timeout), = calls
    assert out == tmp_path and [p.name[:2] for p in chapters] == ["00"] and timeout == 60
