"""JupyterLab in headless Chromium: the widgets' front end loads (anywidget's lab extension) and a
click on a ClickableImage reaches the Python kernel."""

from __future__ import annotations

import nbformat
import pytest
from browser_env import CHROMIUM, CHROMIUM_ARGS, TOKEN, jupyter_lab, require_browser

pytestmark = [pytest.mark.browser, pytest.mark.slow]
sync_api = require_browser()

CELL = """\
import ipywidgets as widgets
import numpy as np
from viz.clickable import ClickableImage
from viz.images import png_bytes

image = ClickableImage(layout=widgets.Layout(width="320px"))
image.value = png_bytes(np.full((40, 80, 3), 128, np.uint8))
label = widgets.Label("no click yet")


def show(change):
    label.value = "kernel saw x=%.2f y=%.2f" % (change["new"]["x"], change["new"]["y"])


image.observe(show, "click")
widgets.VBox([image, label])
"""


@pytest.fixture
def lab(tmp_path):
    """A JupyterLab server serving ``tmp_path``; yields its base URL."""
    with jupyter_lab(tmp_path) as url:
        yield url


def test_a_click_in_jupyterlab_reaches_the_kernel(lab, tmp_path):
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(CELL)])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, tmp_path / "click.ipynb")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 800})
            page.goto(f"{lab}/lab/workspaces/click/tree/click.ipynb?reset&token={TOKEN}")  # no restored tabs
            page.wait_for_function("document.body.innerText.includes('(ipykernel) | Idle')", timeout=120_000)
            page.click(".jp-Cell .jp-InputArea-editor")
            page.keyboard.press("Shift+Enter")
            image = page.wait_for_selector("img.blendmask-clickable", timeout=120_000)
            page.wait_for_function("document.querySelector('img.blendmask-clickable').naturalWidth === 80")
            box = image.bounding_box()
            assert (box["width"], box["height"]) == (320, 160)
            page.mouse.click(box["x"] + 0.75 * box["width"], box["y"] + 0.25 * box["height"])
            page.wait_for_function("document.body.innerText.includes('kernel saw')", timeout=30_000)
            assert "kernel saw x=0.75 y=0.25" in page.inner_text(".jp-OutputArea")
        finally:
            browser.close()
