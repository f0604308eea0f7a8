"""The course as a static website that works offline: every chapter run once with the reference
solutions filled in, rendered to an HTML page with its outputs, plus an index page.

    course site OUTDIR [--chapter N ...] [--timeout SECONDS]

Each page is one file that needs nothing but a browser, from disk (file://) or any web server:
JupyterLab's stylesheet inlined (nbconvert's lab template, with its CDN scripts taken out); each
widget live with the state it had at the end of the run (nbclient saves it), drawn by the widget's
own ES module and stylesheet embedded in the page (each once), on the same stand-in model as
`save_html` (widgets/_base.py: controls that need Python, such as Generate, have no kernel to ask);
plotly figures interactive, with plotly.js inlined once on the pages that have a figure.
Markdown math and mermaid diagrams, which nbconvert would fetch from a CDN, are left as text (the
chapters use neither). Needs the `site` extra: pip install "course-mechinterp[site]".
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import hashlib
import html
import json
import os
import re
import sys
import tempfile
from pathlib import Path

import nbformat

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
PLOTLY = "application/vnd.plotly.v1+json"
SKIP_TRAITS = {"layout", "tabbable", "tooltip", "comm", "log", "keys"}  # ipywidgets' bookkeeping, as in save_html

# nbconvert's lab page, minus everything it would load from a CDN (require.js, the widget manager,
# MathJax, mermaid), plus our navigation, stylesheet and runtime.
TEMPLATE = r"""{%- extends 'index.html.j2' -%}
{% block html_head_js %}{% endblock html_head_js %}
{% block jupyter_widgets %}{% endblock jupyter_widgets %}
{% block html_head_js_mathjax %}{% endblock html_head_js_mathjax %}
{% block html_head_js_mermaidjs %}{% endblock html_head_js_mermaidjs %}
{% block html_head_css %}<style>{{ resources.course_css }}</style>{% endblock html_head_css %}
{% block body_header %}{{ super() }}{{ resources.course_nav }}{% endblock body_header %}
{% block body_footer %}{{ resources.course_runtime }}{{ super() }}{% endblock body_footer %}
"""

SITE_CSS = """
.course-nav { display: flex; gap: 1em; justify-content: space-between; padding: 8px 16px;
  border-bottom: 1px solid var(--jp-border-color2); font-family: var(--jp-ui-font-family); }
.course-nav a { color: var(--jp-content-link-color, #1976d2); }
.celltag_exercise .jp-InputArea::before { content: "reference solution"; position: absolute; right: 8px;
  font: 11px var(--jp-ui-font-family); color: var(--jp-ui-font-color2); }
.celltag_exercise .jp-InputArea { position: relative; }
.course-widget-fallback { color: var(--jp-ui-font-color2); font-style: italic; }
"""

# Draws every widget and figure of the page from what is embedded in it; counts what it drew in
# <body data-widgets="drawn/total" data-plots="drawn/total"> (the browser test reads them).
RUNTIME_JS = r"""
const read = (id) => JSON.parse(document.getElementById(id).textContent);
const saved = read("course-widget-state");
const modules = new Map();
const load = (key) => {
  if (!modules.has(key)) {
    const url = URL.createObjectURL(new Blob([read("course-esm-" + key)], { type: "text/javascript" }));
    modules.set(key, import(url));
  }
  return modules.get(key);
};
const views = [...document.querySelectorAll(".course-widget[data-model-id]")];
let drawn = 0;
for (const el of views) {
  const state = saved[el.dataset.modelId];
  if (!state) continue;
  try {
    let widget = (await load(state.esm)).default;
    if (typeof widget === "function") widget = await widget();
    const model = savedModel(state);
    if (widget.initialize) await widget.initialize({ model });
    el.replaceChildren();
    await widget.render({ model, el });
    el.dataset.rendered = "1";
    drawn += 1;
  } catch (err) {
    el.dataset.failed = String(err);
    console.error("widget", el.dataset.modelId, err);
  }
}
document.body.dataset.widgets = `${drawn}/${views.length}`;
"""

PLOTS_JS = r"""
(() => {
  const figures = [...document.querySelectorAll(".course-plotly")];
  let drawn = 0;
  for (const el of figures) {
    const spec = JSON.parse(el.querySelector("script[type='application/json']").textContent);
    const target = el.querySelector(".course-plotly-plot");
    Plotly.newPlot(target, spec.data || [], spec.layout || {}, { ...(spec.config || {}), responsive: true,
      showLink: false, showSendToCloud: false, showEditInChartStudio: false })
      .then(() => { drawn += 1; document.body.dataset.plots = `${drawn}/${figures.length}`; });
  }
  document.body.dataset.plots = `${drawn}/${figures.length}`;
})();
"""


def json_for_script(obj) -> str:
    from widgets._base import json_for_script as encode

    return encode(obj)


def _inline(text: str) -> str:
    """Text that is safe inside <script> or <style>: nothing can close the element early."""
    return re.sub(r"</(?=script|style)", r"<\\/", text, flags=re.I)


def chapter_title(nb) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return ""


# --- running a chapter --------------------------------------------------------------------------

@contextlib.contextmanager
def _progress_elsewhere(path: Path):
    """A reference run must not mark exercises done in the builder's own progress file."""
    old = os.environ.get("COURSE_PROGRESS")
    os.environ["COURSE_PROGRESS"] = str(path)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("COURSE_PROGRESS", None)
        else:
            os.environ["COURSE_PROGRESS"] = old


def execute(nb, workdir: Path, timeout: int = 900):
    """Run `nb` in a fresh python3 kernel (cwd `workdir`), keeping outputs and widget state.
    Raises nbclient's CellExecutionError at the first cell that fails, outputs so far kept in `nb`."""
    from nbclient import NotebookClient

    with _progress_elsewhere(workdir / "progress.json"):
        NotebookClient(nb, timeout=timeout, kernel_name="python3", store_widget_state=True,
                       resources={"metadata": {"path": str(workdir)}}).execute()
    return nb


# --- turning outputs into offline HTML ----------------------------------------------------------

def saved_widgets(nb) -> dict[str, dict]:
    """The anywidget models of a run, by model id: {esm, css, traits, buffers (name -> base64)}."""
    state = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    out = {}
    for model_id, model in state.items():
        traits = model.get("state", {})
        if "_esm" not in traits:  # ipywidgets' own models (layouts, ...): nothing to draw alone
            continue
        buffers = {".".join(map(str, b["path"])): b["data"] for b in model.get("buffers", [])
                   if b.get("encoding", "base64") == "base64"}
        out[model_id] = {
            "esm": str(traits["_esm"]), "css": str(traits.get("_css", "") or ""),
            "traits": {k: v for k, v in traits.items() if not k.startswith("_") and k not in SKIP_TRAITS},
            "buffers": buffers,
        }
    return out


class Page:
    """What one page embeds: widget models (each module and stylesheet once) and plotly figures."""

    def __init__(self, widgets: dict[str, dict]):
        self.widgets = widgets
        self.models: dict[str, dict] = {}
        self.modules: dict[str, str] = {}
        self.styles: dict[str, str] = {}
        self.n_widgets = self.n_plots = 0

    def widget_html(self, view: dict, text: str) -> str:
        model_id = str(view.get("model_id", ""))
        self.n_widgets += 1
        fallback = f'<p class="course-widget-fallback">{html.escape(text or "a widget")} (its saved state could not be drawn)</p>'
        model = self.widgets.get(model_id)
        if model is not None:
            key = hashlib.sha256(model["esm"].encode()).hexdigest()[:16]
            self.modules[key] = model["esm"]
            if model["css"]:
                self.styles[hashlib.sha256(model["css"].encode()).hexdigest()[:16]] = model["css"]
            self.models[model_id] = {"esm": key, "traits": model["traits"], "buffers": model["buffers"]}
        return f'<div class="course-widget" data-model-id="{html.escape(model_id)}">{fallback}</div>'

    def plot_html(self, spec: dict) -> str:
        self.n_plots += 1
        return (f'<div class="course-plotly"><div class="course-plotly-plot"></div>'
                f'<script type="application/json">{json_for_script(spec)}</script></div>')

    def convert(self, nb):
        """Replace widget views and plotly figures by HTML this page can draw (in place)."""
        for cell in nb.cells:
            for output in cell.get("outputs", []):
                data = output.get("data", {})
                if WIDGET_VIEW in data:
                    name = re.sub(r"^<([\w.]+\.)?(\w+) object at .*>$", r"\2", str(data.get("text/plain", "")))
                    output["data"] = {"text/html": self.widget_html(data[WIDGET_VIEW], name)}
                elif PLOTLY in data:
                    output["data"] = {"text/html": self.plot_html(data[PLOTLY])}
        nb.metadata.pop("widgets", None)  # else nbconvert adds its CDN widget manager
        return nb

    def runtime(self) -> str:
        from widgets._base import SAVED_MODEL_JS

        parts = [f"<style>{_inline(css)}</style>" for css in self.styles.values()]
        if self.n_widgets:
            parts.append(f'<script type="application/json" id="course-widget-state">{json_for_script(self.models)}</script>')
            parts += [f'<script type="application/json" id="course-esm-{key}">{json_for_script(src)}</script>'
                      for key, src in self.modules.items()]
            parts.append(f'<script type="module">{_inline(SAVED_MODEL_JS + RUNTIME_JS)}</script>')
        if self.n_plots:
            parts.append(f"<script>{_inline(plotly_js())}</script>")
            parts.append(f"<script>{PLOTS_JS}</script>")
        return "\n".join(parts)


def plotly_js() -> str:
    import plotly

    return (Path(plotly.__file__).parent / "package_data" / "plotly.min.js").read_text(encoding="utf-8")


def render(nb, title: str, nav: str = "") -> str:
    """One page of HTML for an executed notebook (a copy is converted; `nb` is left as it is)."""
    import jinja2
    from nbconvert import HTMLExporter

    nb = nbformat.from_dict(json.loads(json.dumps(nb)))
    page = Page(saved_widgets(nb))
    page.convert(nb)
    exporter = HTMLExporter(template_name="lab", extra_loaders=[jinja2.DictLoader({"course_site.html.j2": TEMPLATE})],
                            template_file="course_site.html.j2")
    body, _ = exporter.from_notebook_node(nb, resources={
        "metadata": {"name": title}, "course_css": SITE_CSS, "course_nav": nav, "course_runtime": page.runtime()})
    return body


def external_loads(page: str) -> list[str]:
    """Scripts, stylesheets, images or imports that a page would fetch from the network."""
    found = re.findall(r"<(?:script|link|img|iframe|source)\b[^>]*\b(?:src|href)\s*=\s*[\"']?((?:https?:)?//[^\"'\s>]+)",
                       page, flags=re.I)
    found += re.findall(r"@import\s+(?:url\()?[\"']?((?:https?:)?//[^\"')\s]+)", page, flags=re.I)
    return found


# --- the site -----------------------------------------------------------------------------------

def _nav(entries: list[tuple[str, str]], i: int) -> str:
    links = ['<a href="index.html">All chapters</a>']
    if i > 0:
        links.insert(0, f'<a href="{entries[i - 1][0]}">&larr; {html.escape(entries[i - 1][1])}</a>')
    if i + 1 < len(entries):
        links.append(f'<a href="{entries[i + 1][0]}">{html.escape(entries[i + 1][1])} &rarr;</a>')
    return f'<nav class="course-nav">{"".join(links)}</nav>'


def index_page(entries: list[tuple[str, str]], failed: set[str]) -> str:
    items = "\n".join(
        f'<li><a href="{href}">{html.escape(title)}</a>{" (the run stopped at an error)" if href in failed else ""}</li>'
        for href, title in entries)
    stamp = datetime.date.today().isoformat()
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Inside a language model: the chapters</title>
<style>body {{ font-family: system-ui, sans-serif; max-width: 46em; margin: 2em auto; padding: 0 1em; line-height: 1.5 }}
li {{ margin: .3em 0 }}</style></head>
<body>
<h1>Inside a language model: the chapters</h1>
<p>Each page is a chapter as it looks after a run with the reference solutions filled in: every output,
the widgets as they were at the end of the run (hover and click them; anything that asks Python,
such as Generate, needs the notebook), and plots you can hover and zoom. To do the exercises yourself,
run the course in JupyterLab (<code>course start</code>).</p>
<ul>
{items}
</ul>
<p><small>Built by <code>course site</code> on {stamp}. Works offline: nothing is loaded from the network.</small></p>
</body></html>
"""


def build(out_dir: Path, chapters: list[Path] | None = None, timeout: int = 900, log=print) -> tuple[list[Path], list[str]]:
    """Run and render every chapter (or `chapters`) into `out_dir`, then write index.html.
    Returns the pages written and the chapters whose reference run failed."""
    from nbclient.exceptions import CellExecutionError

    from course import notebooks

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    chapters = notebooks.chapter_notebooks() if chapters is None else chapters
    runs, failed = [], []
    for path in chapters:
        nb = notebooks.fill_notebook(nbformat.read(path, as_version=4))
        log(f"running {path.name} with the reference solutions...")
        with tempfile.TemporaryDirectory(prefix="course-site-") as work:
            try:
                execute(nb, Path(work), timeout=timeout)
            except CellExecutionError as e:
                failed.append(path.stem)
                log(f"  {path.name} stopped at an error (its page shows it):\n{str(e)[-1500:]}")
        runs.append((path, nb))
    entries = [(f"{path.stem}.html", chapter_title(nb) or path.stem) for path, nb in runs]
    written = []
    for i, (path, nb) in enumerate(runs):
        page = render(nb, entries[i][1], _nav(entries, i))
        leaks = external_loads(page)
        if leaks:
            raise RuntimeError(f"{path.name}: the page would load {leaks[:3]} from the network")
        target = out_dir / entries[i][0]
        target.write_text(page, encoding="utf-8")
        written.append(target)
        log(f"wrote {target} ({len(page) / 1e6:.1f} MB)")
    index = out_dir / "index.html"
    index.write_text(index_page(entries, {f"{c}.html" for c in failed}), encoding="utf-8")
    written.insert(0, index)
    log(f"wrote {index}")
    return written, failed


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out_dir", metavar="OUTDIR", help="folder for index.html and one page per chapter")
    parser.add_argument("--chapter", action="append", default=None, metavar="N",
                        help="only this chapter (number or name); repeat for more (default: all)")
    parser.add_argument("--timeout", type=int, default=900, help="seconds one cell may run (default 900)")


def main(args) -> int:
    try:
        import nbclient  # noqa: F401
        import nbconvert  # noqa: F401
    except ImportError:
        print('course site needs nbconvert and nbclient: pip install "course-mechinterp[site]"', file=sys.stderr)
        return 2
    from course.cli import find_chapter, packaged_chapters

    chapters = packaged_chapters()
    if args.chapter:
        chapters = [find_chapter(name, chapters) for name in args.chapter]
    written, failed = build(Path(args.out_dir), chapters, timeout=args.timeout)
    print(f"open {written[0].resolve().as_uri()}")
    if failed:
        print(f"the reference run failed in: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0
