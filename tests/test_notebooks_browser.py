"""The lab as its users see it, in JupyterLab and headless Chromium.

* Every committed notebook, opened untrusted (as a notebook from git is), shows no widget as its
  ``repr`` text (``VBox(children=...``): the widgets' saved pictures stand in for them.
* Each live widget answers once in the browser: a basis toggle changes the explorer's mask picture,
  MergeComparison's panels have equal size, the score slider changes the match table.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import nbformat
import pytest
from browser_env import CHROMIUM, CHROMIUM_ARGS, TOKEN, committed_notebooks, jupyter_lab, require_browser

sync_api = require_browser()
pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
RAW_WIDGET = ("VBox(children=", "HBox(children=")
OUTPUT_TEXT = "Array.from(document.querySelectorAll('.jp-OutputArea-output'), e => e.textContent).join(' ')"
IDLE = "document.body.innerText.includes('(ipykernel) | Idle')"

SETUP = f"""\
import sys
sys.path[:0] = [{str(ROOT)!r}, {str(ROOT / "tests")!r}]
import torch
from fakes import FakeInspection, FakePredictor, make_image
from viz import BlendingExplorer, MergeComparison, ScoreThresholdView
from blendmask.analysis import InstanceMatch
images = [make_image(72, 88, seed=0), make_image(72, 88, seed=1)]


class ScoredInspection(FakeInspection):
    def matches(self, *, score_threshold, match_threshold):
        scores = [s for s in (0.2, 0.4, 0.6, 0.8) if s >= score_threshold]
        return [InstanceMatch(0, 7, "match", "a", 0.8, s, 0, 0) for s in scores]
"""
EXPLORER = "explorer = BlendingExplorer(FakePredictor(), images, score_threshold=0.0)\nexplorer"
COMPARISON = """\
comparison = MergeComparison(
    {name: FakePredictor(method=method, attn_size=m) for name, method, m in
     (("blender", "blender", 2), ("weighted sum", "weighted_sum", 1), ("assembler", "assembler", 2))},
    images, score_threshold=0.0, panel_width=200)
comparison"""
SCORE_VIEW = "view = ScoreThresholdView(ScoredInspection(), score_threshold=0.2)\nview"


@pytest.fixture(scope="module")
def lab_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("lab")


@pytest.fixture(scope="module")
def lab(lab_root):
    """One JupyterLab server for the module, serving ``lab_root``."""
    with jupyter_lab(lab_root) as url:
        yield url


@pytest.fixture(scope="module")
def chromium():
    """One headless Chromium for the module."""
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.mark.parametrize("notebook", committed_notebooks())
def test_committed_notebook_shows_no_widget_as_text_untrusted(lab, lab_root, chromium, notebook):
    shutil.copy(notebook, lab_root / notebook.name)  # a copy nobody signed: untrusted
    page = chromium.new_page(viewport={"width": 1280, "height": 900})
    try:
        page.goto(
            f"{lab}/lab/workspaces/{notebook.stem}/tree/{notebook.name}?reset&token={TOKEN}"
        )  # no restored tabs
        page.wait_for_selector(".jp-OutputArea-output", state="attached", timeout=120_000)
        page.wait_for_timeout(1500)
        text = page.evaluate(OUTPUT_TEXT)
        shown = [raw for raw in RAW_WIDGET if raw in text]
        assert not shown, f"{notebook.name}: a widget is drawn as its text repr ({shown})"
    finally:
        page.close()


def _wait_until(condition, what: str, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"waited {seconds:g} s for {what}")
        time.sleep(0.25)


def _run_cells(page, cells: list[str]) -> None:
    for index, source in enumerate(cells):
        editor = page.locator(".jp-Cell .jp-InputArea-editor").nth(index)
        editor.click()
        page.keyboard.insert_text(source)
        page.keyboard.press("Shift+Enter")


def test_live_widgets_answer_in_the_browser(lab, lab_root, chromium):
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("") for _ in range(4)])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, lab_root / "live.ipynb")
    page = chromium.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(f"{lab}/lab/workspaces/live/tree/live.ipynb?reset&token={TOKEN}")
        page.wait_for_function(IDLE, timeout=120_000)
        _run_cells(page, [SETUP, EXPLORER, COMPARISON, SCORE_VIEW])
        page.wait_for_selector("pre.blendmask-score-table", timeout=180_000)

        # explorer: switching basis 2 off redraws the blending picture
        explorer = page.locator(".jp-Cell").nth(1)
        blending = explorer.locator("img:not(.blendmask-clickable)").last
        before = blending.screenshot()
        explorer.get_by_role("button", name="basis 2").click()
        explorer.get_by_role("button", name="basis 2 off").wait_for(timeout=30_000)
        _wait_until(lambda: blending.screenshot() != before, "the mask picture to change")

        # comparison: the three mask panels come out at one size
        panels = page.locator(".jp-Cell").nth(2).locator(".widget-vbox img")
        sizes = {
            (round(b["width"]), round(b["height"]))
            for b in map(lambda i: panels.nth(i).bounding_box(), range(3))
        }
        assert len(sizes) == 1 and next(iter(sizes))[0] == 200, sizes

        # score view: moving the slider one step changes the table
        table = page.locator("pre.blendmask-score-table")
        rows = table.inner_text()
        page.locator(".jp-Cell").nth(3).locator(".noUi-handle").click()
        page.keyboard.press("ArrowRight")
        _wait_until(lambda: table.inner_text() != rows, "the match table to change")
    finally:
        page.close()
