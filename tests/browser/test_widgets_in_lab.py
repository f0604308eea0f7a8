"""All widgets in one notebook in JupyterLab, driven by headless Chromium: render, interact,
check that Python saw the interaction, and that hostile token strings stay text."""

import json

import pytest

from conftest import TOKEN, open_and_run_all, write_notebook

pytestmark = pytest.mark.browser

SETUP = r'''
import json, time, torch, numpy as np
from tiny_model import HOSTILE, tiny_model
from widgets import *
m = tiny_model()
tokens = ["<bos>", " ", "\n", "", "\u200b", "שלום", "🙂"] + HOSTILE
n = len(tokens)
g = torch.Generator().manual_seed(0)
scores = torch.randn(4, n, n, generator=g).masked_fill(torch.triu(torch.ones(n, n, dtype=torch.bool), 1), -1e9)
'''
CELLS = [
    SETUP,
    "ap = AttentionPatterns(tokens, scores.softmax(-1), head_labels=[f'L0H{i}' for i in range(4)]); ap",
    "tv = TokenView(tokens, torch.randn(n, generator=g), cmap='diverging', top_k=[[(HOSTILE[0], 0.6), (' the', 0.3)]] * n, value_label='logit diff'); tv",
    "ll = LogitLens.from_model(m, 'a the b c'); ll",
    "iv = InductionView.from_model(m, seq_len=10); iv",
    "fs = FeatureSteering(m, {'feature A': torch.randn(16, generator=g), HOSTILE[2]: torch.randn(16, generator=g)}, layer=1, prompt='a the b', n_tokens=8); fs",
    "tc = TrainingCurves('live training'); display(tc)\n"
    "t0 = time.time()\n"
    "for step in tc.steps(1_000_000):\n"
    "    time.sleep(0.01)\n"
    "    tc.append(step + 1, train_loss=3 / (1 + step) ** 0.5, test_loss=3.2 / (1 + step) ** 0.4, test_acc=min(1, step / 300))\n"
    "    if step == 50: tc.add_event(step + 1, 'warmup done')\n"
    "    if time.time() - t0 > 90: break  # safety net: the test presses Stop long before\n"
    "print('LOOP ENDED', tc.status)",
    "print('STATE ' + json.dumps(dict(ap_head=ap.selected_head, ap_hover=ap.hovered_token, tv_hover=tv.hovered_token,"
    " ll_hover=ll.hovered_cell, iv=[iv.selected_layer, iv.selected_head], fs_strength=fs.strength, fs_status=fs.status,"
    " fs_steered=fs.steered_tokens, tc_status=tc.status, tc_stop=tc.should_stop, tc_points=tc.as_array().shape[0])))",
]


def wait_text(locator, pattern, timeout=30_000):
    try:
        _wait_text(locator, pattern, timeout)
    except Exception as e:
        raise AssertionError(f"{pattern!r} never matched; text is {locator.inner_text()!r}") from e


def _wait_text(locator, pattern, timeout):
    locator.page.wait_for_function(
        "([el, re]) => new RegExp(re).test(el.textContent)", arg=[locator.element_handle(), pattern], timeout=timeout)


def test_all_widgets_in_jupyterlab(lab, browser, shots):
    url, root = lab
    write_notebook(root / "widgets.ipynb", CELLS)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    dialogs, errors = [], []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.on("pageerror", lambda e: errors.append(str(e)))
    open_and_run_all(page, f"{url}/lab/tree/widgets.ipynb?token={TOKEN}")

    # every widget renders (TrainingCurves while its loop is running), with no error box
    for sel in [".cw-attn", ".cw-tv", ".cw-ll", ".cw-iv", ".cw-fs", ".cw-tc"]:
        page.wait_for_selector(sel, timeout=90_000)
    assert page.locator(".jp-RenderedText[data-mime-type='application/vnd.jupyter.stderr']").count() == 0

    # AttentionPatterns: pick head 2, hover a hostile token (position 7)
    ap = page.locator(".cw-attn")
    ap.locator(".cw-attn-thumb[data-head='2']").click()
    page.wait_for_selector(".cw-attn-thumb.cw-selected[data-head='2']")
    ap.locator(".cw-strip").first.locator("[data-pos='7']").hover()
    wait_text(ap.locator(".cw-info"), "query 7")
    assert "<img·src=x·onerror=window.__pwned=1>" in ap.locator(".cw-strip").first.inner_text()
    # Park the mouse on the menu bar after each hover: a scroll (a screenshot scrolls its element
    # into view) would otherwise slide another token under the still pointer, and hover it.
    page.mouse.move(5, 5)
    ap.screenshot(path=shots / "attention_patterns.png")

    tvl = page.locator(".cw-tv")
    tvl.locator("[data-pos='2']").hover()
    wait_text(tvl.locator(".cw-tv-info"), "position 2")
    assert "↵" in tvl.locator(".cw-tv-info").inner_text()
    page.mouse.move(5, 5)
    tvl.screenshot(path=shots / "token_view.png")

    lll = page.locator(".cw-ll")
    lll.locator(".cw-ll-cell[data-layer='1'][data-pos='2']").hover()
    wait_text(lll.locator(".cw-info"), "position 2")
    page.mouse.move(5, 5)
    lll.screenshot(path=shots / "logit_lens.png")

    ivl = page.locator(".cw-iv")
    ivl.locator("canvas").first.click(position={"x": 40 + 2 * 38 + 19, "y": 20 + 38 + 19})
    wait_text(ivl.locator(".cw-info").first, "Selected L1H2")
    ivl.screenshot(path=shots / "induction_view.png")

    # FeatureSteering: move the slider, Generate (handled by the running loop's poll)
    fsl = page.locator(".cw-fs")
    fsl.locator(".cw-fs-strength").evaluate(
        "el => { el.value = '12.5'; el.dispatchEvent(new Event('input', {bubbles: true})); }")
    wait_text(fsl.locator(".cw-title").nth(1), r"\+ 12\.50")
    fsl.locator(".cw-fs-generate").click()
    wait_text(fsl.locator(".cw-fs-status"), "^done$", timeout=60_000)
    assert fsl.locator(".cw-fs-col").nth(1).locator(".cw-fs-gen-tok").count() == 8
    fsl.screenshot(path=shots / "feature_steering.png")

    # TrainingCurves: pause, check that points stop coming, resume, stop
    tcl = page.locator(".cw-tc")
    wait_text(tcl.locator(".cw-tc-status"), r"running · \d\d+ points")
    tcl.locator(".cw-tc-pause").click()
    wait_text(tcl.locator(".cw-tc-status"), "^paused")
    n1 = tcl.locator(".cw-tc-status").inner_text()
    page.wait_for_timeout(800)
    assert tcl.locator(".cw-tc-status").inner_text() == n1
    tcl.locator(".cw-tc-pause").click()
    wait_text(tcl.locator(".cw-tc-status"), "^running")
    page.wait_for_timeout(500)
    tcl.locator(".cw-tc-stop").click()
    wait_text(tcl.locator(".cw-tc-status"), "^stopped")
    tcl.screenshot(path=shots / "training_curves.png")

    out = page.locator(".jp-OutputArea-output", has_text="STATE ")
    out.wait_for(timeout=60_000)
    state = json.loads(out.inner_text().split("STATE ", 1)[1].strip())
    assert state["ap_head"] == 2 and state["ap_hover"] == 7 and state["tv_hover"] == 2
    assert state["ll_hover"] == [1, 2] and state["iv"] == [1, 2]
    assert state["fs_strength"] == 12.5 and state["fs_status"] == "done" and len(state["fs_steered"]) == 8
    assert state["tc_status"] == "stopped" and state["tc_stop"] is True and 20 < state["tc_points"] < 9000
    assert page.locator(".jp-OutputArea-output", has_text="LOOP ENDED stopped").count() == 1

    assert page.evaluate("() => window.__pwned") is None
    assert dialogs == [] and errors == []
    page.close()
