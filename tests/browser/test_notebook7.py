"""The widgets in Jupyter Notebook 7 (its interface is served by the same Jupyter server as the lab)."""

import pytest

from conftest import TOKEN, open_and_run_all, write_notebook

pytest.importorskip("notebook")

CELL = """
from widgets import TokenView, AttentionPatterns
import torch
tokens = ['<img src=x onerror=window.__pwned=1>', ' the', ' cat', ' sat']
display(TokenView(tokens, torch.tensor([0.1, 0.5, 0.9, 0.3])))
p = torch.rand(2, 4, 4).tril(); p = p / p.sum(-1, keepdim=True)
AttentionPatterns(tokens, p)
"""


@pytest.mark.browser
def test_widgets_render_in_notebook_7(lab, browser, shots):
    url, root = lab
    write_notebook(root / "nb7.ipynb", [CELL])
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    errors = []
    page.on("pageerror", lambda e: errors.append(f"{e} {e.stack}"))
    open_and_run_all(page, f"{url}/notebooks/nb7.ipynb?token={TOKEN}", dialog_timeout=15_000)
    page.wait_for_selector(".cw-tv", timeout=90_000)
    page.wait_for_selector(".cw-attn", timeout=30_000)
    assert "<img src=x" in page.inner_text(".cw-tv").replace("·", " ") or "‹img" in page.inner_text(".cw-tv")
    assert page.evaluate("() => window.__pwned") is None
    page.screenshot(path=str(shots / "notebook7.png"))
    # Notebook 7 throws one error of its own while loading settings kept in the lab's settings
    # folder ("reading 'schema'", raised inside notebook_core.js); any other error fails the test.
    assert [e for e in errors if "/static/notebook/notebook_core" not in e] == [], errors
    page.close()
