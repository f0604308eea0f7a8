"""circuitsvis's attention view, rendered offline by course.circuitsvis_offline, in a real browser."""

import pytest
import torch

from course import circuitsvis_offline


@pytest.mark.browser
def test_offline_view_renders_in_chromium_without_requests(tmp_path, browser):
    """The saved page draws the heads in headless Chromium with every non-file request refused,
    and the hostile token shows as text instead of running."""
    hostile = "</script><img src=x onerror=window.__pwned=1>"
    pattern = torch.rand(2, 4, 4).tril()
    path = circuitsvis_offline.attention_heads(pattern / pattern.sum(-1, keepdim=True), ["a", hostile, "c", "d"],
                                               attention_head_names=["H0", "H1"]).save(tmp_path / "cv.html")
    page = browser.new_page()
    try:
        requests, errors = [], []
        page.route(lambda url: not url.startswith("file:"), lambda route: (requests.append(route.request.url), route.abort()))
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(path.as_uri())
        page.wait_for_function("() => document.querySelector('[id^=circuits-vis-]').children.length > 0",
                               timeout=30_000)
        text = page.inner_text("body")
        assert "H0" in text and "H1" in text
        assert page.evaluate("() => window.__pwned") is None
        assert page.locator("img").count() == 0
        assert requests == [] and errors == []
    finally:
        page.close()
