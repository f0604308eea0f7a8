"""AttributionGraph in JupyterLab, driven by headless Chromium: it renders, hovering a node shows
its tooltip, clicking (or Enter) pins its strongest paths and Python sees them, shift-click and a
name make a supernode, an intervention reaches the Python callback and its new logits are drawn
beside the old, hostile strings stay text, and the dark theme keeps every text readable. Then the
saved page, opened from file:// with the network blocked. Both print how long a 100-node,
1,000-edge graph takes to draw and to redraw on hover (figures, not assertions)."""

import json
import re
import statistics

import pytest

from conftest import TOKEN, open_and_run_all, write_notebook
from graph_fixtures import every_type_graph, random_graph
from test_accessibility import WORST_CONTRAST, set_theme
from tiny_model import HOSTILE

pytestmark = pytest.mark.browser

CELLS = [
    "import json\n"
    "from graph_fixtures import every_type_graph, random_graph\n"
    "from widgets import AttributionGraph\n"
    "calls = []\n"
    "def on_intervene(name, node_ids, mode):\n"
    "    calls.append([name, node_ids, mode])\n"
    "    return [(' Texas', 0.48), ('<img src=x onerror=window.__pwned=1>', 0.2), (' Austin', 0.03)]\n"
    "ag = AttributionGraph(every_type_graph(), on_intervene=on_intervene, supernodes={'say a capital': ['2_300_8']}); ag",
    "big = AttributionGraph(random_graph(100, 1000)); big",
    "plain = AttributionGraph(every_type_graph(hostile=False)); plain",
    "ag.group('Dallas', ['E_7_7']) if 'Texas' in ag.supernodes else None\n"
    "print('STATE ' + json.dumps(dict(supernodes=ag.supernodes, pinned=ag.pinned_node, path=ag.pinned_path,"
    " selected=ag.selected_nodes, hovered=ag.hovered_node, result=ag.intervention_result,"
    " status=ag.intervention_status, calls=calls)))",
]

# Hover redraw: a mouseover on a node, then the next frame drawn (requestAnimationFrame, then a
# task after it), for `n` different nodes; milliseconds each.
HOVER_TIMES = r"""async ([root, n]) => {
  const nodes = root.querySelectorAll(".cw-ag-node"), times = [];
  const frame = () => new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
  await frame();
  for (let k = 0; k < n; k++) {
    const node = nodes[(k * 7) % nodes.length];
    const t0 = performance.now();
    node.dispatchEvent(new MouseEvent("mouseover", { bubbles: true }));
    await frame();
    times.push(performance.now() - t0);
    node.dispatchEvent(new MouseEvent("mouseout", { bubbles: true, relatedTarget: root }));
  }
  return times;
}"""


def node(widget, node_id):
    return widget.locator(f".cw-ag-node[data-id='{node_id}']")


def mark(widget, node_id):  # the node's drawn shape, where a pointer hovers or clicks it
    return node(widget, node_id).locator(".cw-ag-shape")


def texts(locator):  # textContent of each (SVG text has no innerText)
    return locator.evaluate_all("els => els.map((e) => e.textContent)")


def lit_path(widget):
    return widget.locator(".cw-ag-node.cw-ag-path").evaluate_all("els => els.map((e) => e.dataset.id)")


def wait_text(locator, pattern, timeout=30_000):
    try:
        locator.page.wait_for_function("([el, re]) => new RegExp(re).test(el.textContent)",
                                       arg=[locator.element_handle(), pattern], timeout=timeout)
    except Exception as e:
        raise AssertionError(f"{pattern!r} never matched; text is {locator.inner_text()!r}") from e


def hover_figures(page, widget, n=30):
    times = page.evaluate(HOVER_TIMES, [widget.element_handle(), n])
    return statistics.median(times), max(times)


def test_attribution_graph_in_jupyterlab(lab, browser, shots):
    url, root = lab
    write_notebook(root / "attribution_graph.ipynb", CELLS)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    dialogs, errors = [], []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.on("pageerror", lambda e: errors.append(str(e)))
    open_and_run_all(page, f"{url}/lab/workspaces/attribution-graph/tree/attribution_graph.ipynb?token={TOKEN}")
    page.wait_for_function("() => document.querySelectorAll('.cw-ag').length === 3", timeout=90_000)
    stdout = page.locator(".jp-RenderedText[data-mime-type='application/vnd.jupyter.stdout']")
    stdout.filter(has_text=re.compile("^STATE ")).wait_for(timeout=60_000)
    assert page.locator(".jp-RenderedText[data-mime-type='application/vnd.jupyter.stderr']").count() == 0
    ag, big, plain = (page.locator(".cw-ag").nth(i) for i in range(3))

    # renders: every node and edge, the rows, the prompt's tokens as column labels
    assert ag.locator(".cw-ag-node").count() == 20 and ag.locator(".cw-ag-edges .cw-ag-edge").count() == 20
    assert texts(ag.locator(".cw-ag-rowlabel")) == ["Emb", "L0", "L1", "L2", "L3", "Logit"]
    label = ag.locator(".cw-ag-collabel").nth(1).text_content()  # clipped, the whole token in its <title>
    assert label.startswith("<img·sr…") and label.endswith("position 1: <img·src=x·onerror=window.__pwned=1>")
    assert "20 nodes (9 token embeddings, 6 features, 2 error nodes, 3 logits)" in ag.locator(".cw-summary").inner_text()
    assert big.locator(".cw-ag-node").count() == 100 and big.locator(".cw-ag-edges .cw-ag-edge").count() == 1000

    # hover: the tooltip, with hostile strings as text
    mark(ag, "1_7_7").hover()
    tip = ag.locator(".cw-ag-tip")
    tip.wait_for(state="visible")
    text = tip.inner_text()
    assert HOSTILE[1] in text and "the state of Texas" in text and "Top activating contexts" in text
    assert '"><svg·onload=window.__pwned=1>' in text and "Logits it promotes" in text
    assert "activation 2.600 · influence 0.450" in text
    assert tip.locator("script, img, svg").count() == 0
    page.mouse.move(5, 5)
    tip.wait_for(state="hidden")

    # keyboard: a node is focused, arrow up moves to the next layer, Enter pins, Escape unpins
    node(ag, "0_101_7").focus()
    page.keyboard.press("ArrowUp")
    focused = page.evaluate("() => document.activeElement.dataset.id")
    assert focused in ("1_7_7", "1_-1_7")
    ring = page.evaluate("() => { const s = getComputedStyle(document.activeElement.querySelector('.cw-ag-ring'));"
                         " return [s.stroke, parseFloat(s.strokeWidth)]; }")
    assert ring[0] != "none" and ring[1] >= 2, f"no visible focus ring: {ring}"
    assert node(ag, focused).get_attribute("tabindex") == "0"
    page.keyboard.press("Enter")
    page.wait_for_selector(f".cw-ag-node.cw-ag-pinned[data-id='{focused}'][aria-pressed='true']")
    page.keyboard.press("Escape")
    page.wait_for_function("() => !document.querySelector('.cw-ag-pinned')")
    page.keyboard.press(" ")  # Space selects for a supernode, and unselects
    page.wait_for_selector(f".cw-ag-node.cw-ag-selected[data-id='{focused}']")
    page.keyboard.press(" ")
    page.wait_for_function("() => !document.querySelector('.cw-ag-selected')")

    # click pins the strongest paths through a node, click again unpins, a third click pins again
    say_austin = mark(ag, "3_12_8")
    say_austin.click()
    page.wait_for_selector(".cw-ag-node.cw-ag-pinned[data-id='3_12_8']")
    path = lit_path(ag)
    assert {"E_7_7", "0_101_7", "1_7_7", "3_12_8", "5_900_8"} <= set(path), path
    assert "Lgt_902_8" not in path and ag.locator(".cw-ag-edge.cw-ag-path").count() >= 4
    wait_text(ag.locator(".cw-ag-info"), "^Pinned .* to the logits “⁨·Austin⁩”")
    say_austin.click()
    page.wait_for_function("() => !document.querySelector('.cw-ag-pinned')")
    assert ag.locator(".cw-ag-path").count() == 0
    say_austin.click()
    page.wait_for_selector(".cw-ag-node.cw-ag-pinned[data-id='3_12_8']")

    # supernode: shift-click two nodes, name them, Group; drawn as one box
    mark(ag, "1_7_7").click(modifiers=["Shift"])
    mark(ag, "0_101_7").click(modifiers=["Shift"])
    page.wait_for_function("() => document.querySelectorAll('.cw-ag .cw-ag-selected').length === 2")
    assert ag.locator(".cw-ag-node.cw-ag-pinned[data-id='3_12_8']").count() == 1  # shift-click does not pin
    ag.locator(".cw-ag-name").fill("Texas")
    ag.locator(".cw-ag-group").click()
    ag.locator(".cw-ag-super[data-name='Texas']").wait_for()
    assert ag.locator(".cw-ag-super").count() == 2 and ag.locator(".cw-ag-selected").count() == 0
    assert ag.locator(".cw-ag-chip").all_inner_texts()[1].startswith("Texas")

    # intervention: choose the supernode and a mode, run; the new logits beside the old
    ag.locator(".cw-ag-iv-super").select_option("Texas")
    ag.locator(".cw-ag-iv-mode").select_option("suppress")
    assert ag.locator(".cw-ag-iv-run").is_enabled()
    ag.locator(".cw-ag-iv-run").click()
    wait_text(ag.locator(".cw-ag-iv-status"), "^done$")
    results = ag.locator(".cw-ag-results")
    wait_text(results, "After: suppress “⁨Texas⁩” \\(2 nodes\\)")
    cols = results.locator(".cw-ag-col")
    assert "·Austin" in cols.nth(0).inner_text() and "0.620" in cols.nth(0).inner_text()
    after = cols.nth(1).inner_text()
    assert "·Texas\n0.480 (new)" in after and "<img·src=x·onerror=window.__pwned=1>" in after
    assert "0.030 (−0.590)" in after
    ag.screenshot(path=shots / "attribution_graph.png")

    # without a callback the control is off, and says why
    assert plain.locator(".cw-ag-iv-run").is_disabled()
    assert "on_intervene=fn" in plain.locator(".cw-ag-iv-why").inner_text()

    # Python saw it all
    page.locator(".jp-Cell").last.locator(".jp-InputPrompt").click()
    page.keyboard.press("Control+Enter")
    out = stdout.filter(has_text=re.compile('^STATE .*"status": "done"'))
    out.wait_for(timeout=30_000)
    state = json.loads(out.inner_text().split("STATE ", 1)[1].strip())
    assert state["supernodes"] == {"say a capital": ["2_300_8"], "Texas": ["1_7_7", "0_101_7"], "Dallas": ["E_7_7"]}
    ag.locator(".cw-ag-super[data-name='Dallas']").wait_for()  # a supernode set from Python is drawn
    assert state["pinned"] == "3_12_8" and sorted(state["path"]) == sorted(path) and state["selected"] == []
    assert state["calls"] == [["Texas", ["1_7_7", "0_101_7"], "suppress"]]
    assert state["result"]["after"] == [[" Texas", 0.48], [HOSTILE[0], 0.2], [" Austin", 0.03]]
    assert state["result"]["before"][0] == [" Austin", 0.62]

    # 100 nodes x 1,000 edges: time to draw (inside render) and hover redraws
    big.scroll_into_view_if_needed()
    draw_ms, frame_ms = float(big.get_attribute("data-draw-ms")), float(big.get_attribute("data-first-frame-ms"))
    median, worst = hover_figures(page, big)
    print(f"\nJupyterLab, 100 nodes x 1,000 edges: drawing {draw_ms:.1f} ms, render() to its first frame {frame_ms:.1f} ms; "
          f"hover redraw to the next frame: median {median:.1f} ms, max {worst:.1f} ms over 30 hovers")

    # dark theme: every text keeps its contrast
    try:
        set_theme(page, "JupyterLab Dark")
        for widget in (ag, plain):
            worst_text = page.evaluate(WORST_CONTRAST, widget.element_handle())
            assert worst_text["ratio"] >= 4.5, f"dark theme: {worst_text}"
        ag.screenshot(path=shots / "dark_attribution_graph.png")
    finally:
        set_theme(page, "JupyterLab Light")
    assert page.evaluate(WORST_CONTRAST, ag.element_handle())["ratio"] >= 4.5

    assert page.evaluate("() => window.__pwned") is None
    assert dialogs == [] and errors == []
    page.close()


def test_saved_page_renders_offline(browser, tmp_path, shots):
    from widgets import AttributionGraph

    w = AttributionGraph(every_type_graph(), supernodes={HOSTILE[0]: ["1_7_7", "0_101_7"]},
                         on_intervene=lambda *a: [])
    w.pinned_node = "3_12_8"
    page = browser.new_page(viewport={"width": 1300, "height": 900})
    requests, dialogs, errors = [], [], []
    page.route(lambda url: not url.startswith("file:"), lambda route: (requests.append(route.request.url), route.abort()))
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(w.save_html(tmp_path / "graph.html").as_uri())
    page.wait_for_selector("body[data-rendered='1']", timeout=15_000)
    ag = page.locator(".cw-ag")
    assert ag.locator(".cw-ag-node").count() == 20 and ag.locator(".cw-ag-edges .cw-ag-edge").count() == 20
    assert ag.locator(".cw-ag-node.cw-ag-pinned[data-id='3_12_8']").count() == 1  # from the saved state
    assert {"E_7_7", "0_101_7", "1_7_7", "3_12_8", "5_900_8"} <= set(lit_path(ag))
    assert ag.locator(".cw-ag-superlabel").text_content().startswith(HOSTILE[0][:27])
    mark(ag, "5_901_8").hover()
    assert HOSTILE[1] in ag.locator(".cw-ag-tip").inner_text()
    assert ag.locator(".cw-ag-iv-run").is_disabled()
    assert "no Python kernel" in ag.locator(".cw-ag-iv-why").inner_text()
    mark(ag, "3_12_8").click()  # pins and unpins offline too
    page.wait_for_function("() => !document.querySelector('.cw-ag-pinned')")
    page.mouse.move(5, 5)
    page.screenshot(path=shots / "saved_AttributionGraph.png", full_page=True)

    # 100 nodes x 1,000 edges, offline: page load to the first frame drawn, then hover redraws
    path = AttributionGraph(random_graph(100, 1000)).save_html(tmp_path / "big.html")
    loads = []
    for _ in range(3):
        page.goto(path.as_uri())
        page.wait_for_selector("body[data-rendered='1']", timeout=15_000)
        # performance.now() counts from the start of this navigation
        loads.append(page.evaluate("() => new Promise((r) => requestAnimationFrame(() => setTimeout(() => r(performance.now()), 0)))"))
    big = page.locator(".cw-ag")
    draw_ms, frame_ms = float(big.get_attribute("data-draw-ms")), float(big.get_attribute("data-first-frame-ms"))
    median, worst = hover_figures(page, big)
    print(f"\nsaved page, 100 nodes x 1,000 edges ({path.stat().st_size:,} bytes): navigation to first frame "
          f"{statistics.median(loads):.0f} ms (median of 3); drawing {draw_ms:.1f} ms, render() to its first frame {frame_ms:.1f} ms; "
          f"hover redraw to the next frame: median {median:.1f} ms, max {worst:.1f} ms over 30 hovers")
    assert page.evaluate("() => window.__pwned") is None
    assert requests == [] and dialogs == [] and errors == []
    page.close()
