"""save_html pages work offline in headless Chromium and show hostile strings as text."""

import pytest

from test_widgets import all_widgets  # noqa: E402

pytestmark = pytest.mark.browser


def test_saved_pages_render_offline(browser, tmp_path, shots):
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    requests, dialogs, errors = [], [], []
    page.route(lambda url: not url.startswith("file:"), lambda route: (requests.append(route.request.url), route.abort()))
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.on("pageerror", lambda e: errors.append(str(e)))
    for w in all_widgets():
        name = type(w).__name__
        path = w.save_html(tmp_path / f"{name}.html")
        page.goto(path.as_uri())
        page.wait_for_selector("body[data-rendered='1']", timeout=15_000)
        text = page.locator("#widget-root").inner_text()
        page.screenshot(path=shots / f"saved_{name}.png", full_page=True)
        assert page.evaluate("() => window.__pwned") is None, name
        if name in ("AttentionPatterns", "TokenView", "LogitLens"):
            assert "<img·src=x·onerror=window.__pwned=1>" in text and "∅" in text and "[ZWSP]" in text, name
    assert requests == [] and dialogs == [] and errors == []
    page.close()
