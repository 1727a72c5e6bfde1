"""Widgets leave a static picture next to the widget view: what IPython publishes for each one."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from fakes import IMAGES, FakeInspection, FakePredictor, make_image, make_prediction
from IPython.core.formatters import DisplayFormatter
from PIL import Image

from blendmask.analysis.steps import blending_steps
from viz import BlendingExplorer, MergeComparison, ScoreThresholdView, blending_panel
from viz.snapshot import WIDGET_VIEW

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def published(obj) -> dict:
    """The mime bundle IPython sends for ``obj`` as a cell's result."""
    data, _ = DisplayFormatter().format(obj)
    return data


def png_of(data: dict) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data["image/png"]))).convert("RGB"))


def test_explorer_publishes_the_widget_and_a_picture_of_its_current_view():
    explorer = BlendingExplorer(FakePredictor(), IMAGES, score_threshold=0.3)
    data = published(explorer)
    assert set(data) == {WIDGET_VIEW, "image/png", "text/plain"}
    assert data[WIDGET_VIEW]["model_id"] == explorer.widget.model_id
    assert "children=" not in data["text/plain"]
    before = png_of(data)
    np.testing.assert_array_equal(before, explorer.picture())
    assert before.shape[0] > explorer.panel.shape[0], "overview above the blending panel"
    explorer.basis_toggles[0].value = False
    assert not np.array_equal(png_of(published(explorer)), before), "the picture follows the controls"
    explorer.score_slider.value = 0.99
    assert png_of(published(explorer)).shape[0] > 0, "no detection left: still a picture"


def test_comparison_picture_has_one_equal_width_column_per_model():
    models = {
        "blender": FakePredictor(method="blender"),
        "assembler": FakePredictor(method="assembler", attn_size=2),
    }
    view = MergeComparison(models, IMAGES, metrics={"blender": {"AP": 30.0}, "assembler": {"AP": 31.0}})
    data = published(view)
    assert WIDGET_VIEW in data and "children=" not in data["text/plain"]
    picture = png_of(data)
    assert picture.shape[1] >= 2 * view.panel_width
    assert {
        panel.layout.width for panel in [*view.mask_panels.values(), *view.attention_panels.values()]
    } == {f"{view.panel_width}px"}


def test_score_view_is_drawn_at_a_fixed_pixel_width_and_follows_the_slider():
    inspection = FakeInspection()
    view = ScoreThresholdView(inspection, score_threshold=0.5, scale=2)
    assert view.picture.layout.width == f"{view.drawn.shape[1]}px"
    assert view.drawn.shape[1] == 2 * (2 * IMAGES[0].shape[-1] + 6), "GT | prediction at 2x"
    before = view.picture.value
    view.slider.value = 0.1
    assert inspection.thresholds[-1] == 0.1 and view.picture.value != before
    assert "category" in view.table.value and "all" in view.summary
    data = published(view)
    assert WIDGET_VIEW in data and png_of(data).shape[0] > view.drawn.shape[0], "picture above the table"


def test_blending_panel_draws_every_basis_and_fades_switched_off_ones():
    pred = make_prediction(num_bases=4, resolution=8)
    steps = blending_steps(pred, 0)
    panel = blending_panel(steps, make_image(), title="t", tile=32)
    assert panel.dtype == np.uint8 and panel.shape[1] > 6 * 32
    off = blending_panel(steps.scaled([0.0, 1.0, 1.0, 1.0]), make_image(), title="t", tile=32)
    assert off.shape == panel.shape and not np.array_equal(off, panel)
    assert off.mean() > panel.mean(), "a switched-off basis is faded towards white"
