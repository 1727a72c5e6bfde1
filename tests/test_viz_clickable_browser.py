"""ClickableImage's front-end module in headless Chromium: the PNG shows, and a click reports where it
landed as fractions of the image. The module runs against a stand-in of anywidget's model (get, set,
save_changes, on, off), so no Jupyter server is needed."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
from browser_env import CHROMIUM, CHROMIUM_ARGS, require_browser

from viz.clickable import ClickableImage
from viz.images import png_bytes

pytestmark = pytest.mark.browser
sync_api = require_browser()

PAGE = """<!doctype html><html><body style="margin:0">
<div id="widget" style="width:200px; margin:30px 0 0 40px"></div>
<script type="module">
const decode = (text) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
const state = { value: new DataView(decode(%(png)s).buffer), click: {} };
const listeners = {};
window.saves = 0;
window.state = state;
window.model = {
  get: (key) => state[key],
  set: (key, value) => { state[key] = value; },
  save_changes: () => { window.saves += 1; },
  on: (event, callback) => { (listeners[event] ||= []).push(callback); },
  off: (event, callback) => { listeners[event] = (listeners[event] || []).filter((f) => f !== callback); },
};
window.setValue = (text) => {
  state.value = new DataView(decode(text).buffer);
  (listeners["change:value"] || []).forEach((callback) => callback());
};
const style = document.createElement("style");
style.textContent = %(css)s;
document.head.appendChild(style);
const module = await import("data:text/javascript;base64," + %(esm)s);
module.default.render({ model: window.model, el: document.getElementById("widget") });
window.ready = true;
</script></body></html>"""


def _png(height: int, width: int, value: int) -> str:
    return base64.b64encode(png_bytes(np.full((height, width, 3), value, np.uint8))).decode()


@pytest.fixture(scope="module")
def page():
    widget = ClickableImage()
    html = PAGE % {
        "png": json.dumps(_png(50, 100, 200)),
        "css": json.dumps(widget._css),
        "esm": json.dumps(base64.b64encode(widget._esm.encode()).decode()),
    }
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 400, "height": 300})
        page.set_content(html)
        page.wait_for_function("window.ready && document.querySelector('img').naturalWidth > 0")
        yield page
        browser.close()


def test_the_png_is_shown_at_the_widget_width(page):
    size = page.evaluate(
        "(() => { const i = document.querySelector('img'); return [i.naturalWidth, "
        "i.naturalHeight, i.getBoundingClientRect().width, i.getBoundingClientRect().height]; })()"
    )
    assert size == [100, 50, 200, 100]


def test_a_click_reports_fractions_of_the_image_and_counts(page):
    box = page.locator("img").bounding_box()
    page.mouse.click(box["x"] + 0.25 * box["width"], box["y"] + 0.75 * box["height"])
    click = page.evaluate("window.state.click")
    assert click["x"] == pytest.approx(0.25, abs=0.01) and click["y"] == pytest.approx(0.75, abs=0.01)
    assert click["count"] == 1 and page.evaluate("window.saves") == 1
    page.mouse.click(box["x"] + 0.25 * box["width"], box["y"] + 0.75 * box["height"])
    assert page.evaluate("window.state.click.count") == 2, "a second click on the same spot is a new change"


def test_a_new_value_replaces_the_shown_png(page):
    before = page.evaluate("document.querySelector('img').src")
    page.evaluate(f"window.setValue({json.dumps(_png(30, 60, 10))})")
    page.wait_for_function("document.querySelector('img').naturalWidth === 60")
    assert page.evaluate("document.querySelector('img').src") != before
