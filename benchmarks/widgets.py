"""Attention widget cost in a headless Chromium: bytes sent to the browser, time until the page
has drawn, and JS heap, for widgets.AttentionPatterns (its save_html page) vs circuitsvis's
attention_heads (its inline, offline HTML bundle), at 12 heads x 128 and x 512 tokens.

Run: python benchmarks/widgets.py  (needs /usr/bin/chromium). Prints a table and ratios."""

from __future__ import annotations

import pathlib
import sys
import tempfile
import time

import torch

REPO = pathlib.Path(__file__).parents[1]
sys.path.insert(0, str(REPO))
from widgets import AttentionPatterns  # noqa: E402

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
PROBE = "() => new Promise(r => requestAnimationFrame(() => setTimeout(r, 0)))"


def patterns(heads: int, pos: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    s = torch.randn(heads, pos, pos, generator=g)
    return s.masked_fill(torch.triu(torch.ones(pos, pos, dtype=torch.bool), 1), float("-inf")).softmax(-1)


def measure(browser, path: pathlib.Path, ready: str, timeout_s: float) -> dict:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.route(lambda url: not url.startswith("file:"), lambda route: route.abort())  # offline
    cdp = page.context.new_cdp_session(page)
    t0 = time.perf_counter()
    try:
        page.goto(path.as_uri(), timeout=timeout_s * 1000, wait_until="load")
        page.wait_for_function(ready, timeout=max(1, timeout_s - (time.perf_counter() - t0)) * 1000, polling=100)
        page.evaluate(PROBE)
        t = time.perf_counter() - t0
        heap = cdp.send("Runtime.getHeapUsage")["usedSize"]
        out = {"seconds": t, "heap_mb": heap / 2**20}
    except Exception:
        out = {"seconds": None, "heap_mb": None, "timeout": timeout_s}
    page.close()
    return out


def main() -> None:
    import circuitsvis.attention as cva
    from playwright.sync_api import sync_playwright

    tmp = pathlib.Path(tempfile.mkdtemp())
    rows = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        for pos in (128, 512):
            p = patterns(12, pos)
            tokens = [f"t{i}" for i in range(pos)]
            ours = AttentionPatterns(tokens, p).save_html(tmp / f"ours_{pos}.html")
            cv = tmp / f"cv_{pos}.html"
            cv.write_text("<!doctype html><html><body>" + cva.attention_heads(p, tokens).local_src + "</body></html>")
            r_ours = measure(browser, ours, "() => document.body.dataset.rendered === '1'", 60)
            r_cv = measure(browser, cv, "() => document.querySelector('[id^=circuits-vis] *') !== null", 240)
            rows.append((pos, ours.stat().st_size, cv.stat().st_size, r_ours, r_cv))
        browser.close()

    def s(r):
        return f"{r['seconds']:.2f} s" if r["seconds"] is not None else f"did not finish in {r['timeout']} s"

    def mb(r):
        return f"{r['heap_mb']:.1f}" if r["heap_mb"] is not None else "-"

    print(f"{'12 heads x pos':>15} | {'ours bytes':>11} | {'circuitsvis bytes':>17} | {'bytes ratio':>11} | "
          f"{'ours drawn':>10} | {'circuitsvis drawn':>28} | {'heap MB ours/cv':>15}")
    for pos, b_ours, b_cv, r_ours, r_cv in rows:
        print(f"{pos:>15} | {b_ours:>11,} | {b_cv:>17,} | {b_ours / b_cv:>11.3f} | {s(r_ours):>10} | "
              f"{s(r_cv):>28} | {mb(r_ours) + ' / ' + mb(r_cv):>15}")
        if r_ours["seconds"] and r_cv["seconds"]:
            print(f"{'':>15}   time ratio ours/circuitsvis = {r_ours['seconds'] / r_cv['seconds']:.3f}")
    print("targets: bytes ratio <= 0.1; ours drawn within 2 s at 12 x 512")


if __name__ == "__main__":
    main()
