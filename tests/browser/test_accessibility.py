"""AttentionPatterns and LogitLens in JupyterLab with the keyboard alone, then in the dark theme:
arrow keys move, Enter selects, the focus is visible, Python sees what the keyboard chose, text
alternatives describe the canvases, and every text keeps its contrast (WCAG AA, 4.5:1) in both themes."""

import base64
import re

import pytest

from conftest import TOKEN, open_and_run_all, write_notebook

pytestmark = pytest.mark.browser

CELLS = [
    "import json, torch\n"
    "from tiny_model import tiny_model\n"
    "from widgets import AttentionPatterns, LogitLens\n"
    "tokens = ['<bos>', ' the', ' cat', ' sat', ' on', ' the', ' mat']\n"
    "n = len(tokens)\n"
    "g = torch.Generator().manual_seed(0)\n"
    "scores = torch.randn(4, n, n, generator=g).masked_fill(torch.triu(torch.ones(n, n, dtype=torch.bool), 1), -1e9)",
    "ap = AttentionPatterns(tokens, scores.softmax(-1), head_labels=[f'L0H{i}' for i in range(4)]); ap",
    "ll = LogitLens.from_model(tiny_model(), 'a the b c'); ll",
    "print('STATE ' + json.dumps(dict(ap_head=ap.selected_head, ap_hover=ap.hovered_token, ll_hover=ll.hovered_cell)))",
]

# The lowest contrast between any text in `root` and what is behind it (alpha composited), as
# WCAG computes it; with the element that has it.
WORST_CONTRAST = r"""(root) => {
  const parse = (s) => { const m = /rgba?\(([^)]+)\)/.exec(s); if (!m) return null;
    const v = m[1].split(/[\s,\/]+/).filter(Boolean).map(Number); return [v[0], v[1], v[2], v.length > 3 ? v[3] : 1]; };
  const over = (top, under) => [0, 1, 2].map((i) => top[i] * top[3] + under[i] * (1 - top[3]));
  const behind = (el) => { const layers = [];
    for (let e = el; e; e = e.parentElement) { const c = parse(getComputedStyle(e).backgroundColor);
      if (c && c[3] > 0) { layers.push(c); if (c[3] >= 1) break; } }
    return layers.reverse().reduce((bg, c) => over(c, bg), [255, 255, 255]); };
  const lum = (c) => { const l = c.map((v) => ((v /= 255) <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4));
    return 0.2126 * l[0] + 0.7152 * l[1] + 0.0722 * l[2]; };
  let worst = { ratio: Infinity, what: "" };
  for (const el of root.querySelectorAll("*")) {
    const text = [...el.childNodes].filter((n) => n.nodeType === 3).map((n) => n.textContent).join("").trim();
    if (!text || !el.getClientRects().length) continue;
    const bg = behind(el), fg = over(parse(getComputedStyle(el).color), bg);
    const [a, b] = [lum(fg), lum(bg)].sort((x, y) => y - x), ratio = (a + 0.05) / (b + 0.05);
    if (ratio < worst.ratio) worst = { ratio, what: `${el.className}: ${text.slice(0, 40)}` };
  }
  return worst;
}"""

# Share of near-white and near-black pixels in a PNG, decoded by the browser itself.
PIXELS = r"""async (url) => {
  const img = new Image(); img.src = url; await img.decode();
  const c = document.createElement("canvas"); c.width = img.width; c.height = img.height;
  const ctx = c.getContext("2d"); ctx.drawImage(img, 0, 0);
  const d = ctx.getImageData(0, 0, c.width, c.height).data;
  let white = 0, black = 0, n = d.length / 4;
  for (let i = 0; i < d.length; i += 4) {
    const y = 0.2126 * d[i] + 0.7152 * d[i + 1] + 0.0722 * d[i + 2];
    if (y > 235) white++; else if (y < 50) black++;
  }
  return { white: white / n, black: black / n };
}"""


def pixels(page, png: bytes) -> dict:
    return page.evaluate(PIXELS, "data:image/png;base64," + base64.b64encode(png).decode())


def focused(page) -> dict:
    return page.evaluate("""() => { const e = document.activeElement, s = getComputedStyle(e);
        return { cls: e.className, head: e.dataset.head ?? null, layer: e.dataset.layer ?? null, pos: e.dataset.pos ?? null,
                 tag: e.tagName, outline: s.outlineStyle, width: parseFloat(s.outlineWidth) }; }""")


def assert_focus_visible(page):
    f = focused(page)
    assert f["outline"] != "none" and f["width"] >= 2, f"the focused {f['tag']}.{f['cls']} has no visible outline: {f}"


def set_theme(page, name):
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile("^Settings$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile("^Theme$")).hover()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(f"^{name}$")).click()
    light = "false" if "Dark" in name else "true"
    page.wait_for_selector(f"body[data-jp-theme-light='{light}']", state="attached", timeout=30_000)
    page.wait_for_timeout(500)  # the theme's stylesheet applies


def test_keyboard_and_dark_theme(lab, browser, shots):
    url, root = lab
    write_notebook(root / "a11y.ipynb", CELLS)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    # a workspace of its own, so that the tabs it opens are not restored in the other tests' lab
    open_and_run_all(page, f"{url}/lab/workspaces/a11y/tree/a11y.ipynb?token={TOKEN}")
    page.wait_for_selector(".cw-attn", timeout=90_000)
    page.wait_for_selector(".cw-ll", timeout=60_000)
    page.locator(".jp-OutputArea-output", has_text="STATE ").wait_for(timeout=60_000)
    ap, ll = page.locator(".cw-attn"), page.locator(".cw-ll")

    # -- text alternatives ------------------------------------------------------------------
    assert "each query's largest weight goes to" in ap.locator(".cw-summary").inner_text()
    overlay = ap.locator(".cw-attn-overlay")
    assert overlay.get_attribute("tabindex") == "0" and "L0H0" in overlay.get_attribute("aria-label")
    described = overlay.get_attribute("aria-describedby")
    assert page.locator(f"#{described}").inner_text() == ap.locator(".cw-summary").inner_text()
    assert "Mean probability of the top prediction" in ll.locator(".cw-summary").inner_text()
    assert "top “" in ll.locator(".cw-ll-cell").first.get_attribute("aria-label")

    # -- AttentionPatterns with the keyboard: one tab stop for the heads, arrows move, Enter selects
    thumbs = ap.locator(".cw-attn-thumb")
    assert [thumbs.nth(i).get_attribute("tabindex") for i in range(4)] == ["0", "-1", "-1", "-1"]
    thumbs.nth(0).focus()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    assert focused(page)["head"] == "2"
    assert_focus_visible(page)
    page.keyboard.press("Enter")
    page.wait_for_selector(".cw-attn-thumb.cw-selected[data-head='2'][aria-pressed='true']")
    assert "L0H2" in ap.locator(".cw-summary").inner_text()
    page.keyboard.press("Tab")  # from the heads (one tab stop) to the pattern
    assert "cw-attn-overlay" in focused(page)["cls"]
    assert_focus_visible(page)
    for key in ["ArrowDown", "ArrowDown", "ArrowDown", "ArrowRight"]:
        page.keyboard.press(key)
    info = ap.locator(".cw-info")
    page.wait_for_function("(el) => /query 3 .*→ key 1 /.test(el.textContent)", arg=info.element_handle())
    assert info.get_attribute("aria-live") == "polite"

    # -- LogitLens: arrows over layers and positions ---------------------------------------------
    cells = ll.locator(".cw-ll-cell")
    assert ll.locator(".cw-ll-cell[tabindex='0']").count() == 1
    ll.locator(".cw-ll-cell[tabindex='0']").focus()
    start = focused(page)
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowDown")  # down the drawing: an earlier layer
    f = focused(page)
    assert (int(f["layer"]), int(f["pos"])) == (int(start["layer"]) - 1, int(start["pos"]) + 2)
    assert_focus_visible(page)
    page.keyboard.press("Enter")
    page.wait_for_function("(el) => /position 2 /.test(el.textContent)", arg=ll.locator(".cw-info").element_handle())
    assert cells.count() > 4

    # -- Python saw the keyboard's choices --------------------------------------------------------
    page.locator(".jp-Cell").last.locator(".jp-InputPrompt").click()
    page.keyboard.press("Control+Enter")
    want = f'"ap_head": 2, "ap_hover": 3, "ll_hover": [{f["layer"]}, {f["pos"]}]'
    page.locator(".jp-OutputArea-output", has_text=want).wait_for(timeout=30_000)

    # -- light, then dark: contrast of every text, and what the screenshot shows -------------------
    light_shot = ap.screenshot()
    assert pixels(page, light_shot)["white"] > 0.3  # (the check below can tell the themes apart)
    for name in ["cw-attn", "cw-ll"]:
        worst = page.evaluate(WORST_CONTRAST, page.locator(f".{name}").element_handle())
        assert worst["ratio"] >= 4.5, f"light theme, {name}: {worst}"
    try:
        set_theme(page, "JupyterLab Dark")
        for name, widget in [("attention_patterns", ap), ("logit_lens", ll)]:
            widget.scroll_into_view_if_needed()
            shot = widget.screenshot(path=shots / f"dark_{name}.png")
            share = pixels(page, shot)
            assert share["white"] < 0.05 and share["black"] > 0.3, f"{name} in the dark theme: {share}"
            worst = page.evaluate(WORST_CONTRAST, widget.element_handle())
            assert worst["ratio"] >= 4.5, f"dark theme, {name}: {worst}"
        colour = page.evaluate("() => getComputedStyle(document.querySelector('.cw-root')).color")
        assert sum(map(int, re.findall(r"\d+", colour)[:3])) > 3 * 180, f"widget text is {colour} in the dark theme"
    finally:
        set_theme(page, "JupyterLab Light")
    assert errors == []
    page.close()
