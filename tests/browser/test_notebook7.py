"""The widgets in Jupyter Notebook 7 (its interface is served by the same Jupyter server as the lab)."""

import re

import nbformat
import pytest

from conftest import TOKEN

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
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(CELL)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, root / "nb7.ipynb")
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    errors = []
    page.on("pageerror", lambda e: errors.append(f"{e} {e.stack}"))
    page.goto(f"{url}/notebooks/nb7.ipynb?token={TOKEN}")
    try:
        page.locator(".jp-Dialog .jp-mod-accept").click(timeout=15_000)
    except Exception:
        pass
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
    page.wait_for_function("() => document.querySelector('.jp-Notebook-ExecutionIndicator, .jp-NotebookKernelStatus, "
                           ".jp-Toolbar-kernelStatus') !== null", timeout=30_000)
    page.locator(".jp-Notebook").click()
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile("^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile("^Run All Cells$")).click()
    page.wait_for_selector(".cw-tv", timeout=90_000)
    page.wait_for_selector(".cw-attn", timeout=30_000)
    assert "<img src=x" in page.inner_text(".cw-tv").replace("·", " ") or "‹img" in page.inner_text(".cw-tv")
    assert page.evaluate("() => window.__pwned") is None
    page.screenshot(path=str(shots / "notebook7.png"))
    # Notebook 7 throws one error of its own while loading settings kept in the lab's settings
    # folder ("reading 'schema'", raised inside notebook_core.js); any other error fails the test.
    assert [e for e in errors if "/static/notebook/notebook_core" not in e] == [], errors
    page.close()
