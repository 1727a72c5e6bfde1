"""Widgets driven through their traitlets, no browser: the displayed mask follows the controls."""

from __future__ import annotations

import pytest
import torch
from fakes import IMAGES, FakePredictor

from blendmask.analysis.steps import blending_steps
from viz import BlendingExplorer, MergeComparison, metrics_table

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def explorer() -> BlendingExplorer:
    return BlendingExplorer(FakePredictor(), IMAGES, score_threshold=0.3)


def test_explorer_starts_on_the_best_detection(explorer):
    pred = explorer.prediction
    assert [v for _, v in explorer.instance_select.options] == [0, 1, 2]
    torch.testing.assert_close(explorer.steps.logits, pred["mask_logits"][0])
    assert explorer.blending.value[:4] == b"\x89PNG" and explorer.overview.value[:4] == b"\x89PNG"
    assert len(explorer.basis_toggles) == len(explorer.attention_sliders) == 4


def test_one_basis_on_shows_that_basis_product(explorer):
    predicted = blending_steps(explorer.prediction, 0)
    before = explorer.blending.value
    for toggle in explorer.basis_toggles[1:]:
        toggle.value = False
    torch.testing.assert_close(explorer.steps.logits, predicted.products[0])
    assert torch.equal(explorer.steps.mask, predicted.products[0].sigmoid() >= 0.5)
    assert explorer.blending.value != before
    explorer.basis_toggles[2].value = True
    torch.testing.assert_close(explorer.steps.logits, predicted.products[0] + predicted.products[2])
    explorer.reset_button.click()
    torch.testing.assert_close(explorer.steps.logits, predicted.logits)


def test_sliders_scale_each_basis_weight(explorer):
    predicted = blending_steps(explorer.prediction, 0)
    explorer.attention_sliders[3].value = 0.5
    expected = predicted.products[:3].sum(0) + 0.5 * predicted.products[3]
    torch.testing.assert_close(explorer.steps.logits, expected)
    assert explorer.scales() == [1.0, 1.0, 1.0, 0.5]
    assert "basis 4" in explorer.summary.value


def test_instance_image_and_thresholds_drive_the_view(explorer):
    explorer.instance_select.value = 2
    torch.testing.assert_close(explorer.steps.logits, explorer.prediction["mask_logits"][2])
    explorer.mask_slider.value = 0.9
    assert torch.equal(explorer.steps.mask, explorer.prediction["mask_logits"][2].sigmoid() >= 0.9)
    explorer.score_slider.value = 0.5
    assert [v for _, v in explorer.instance_select.options] == [0, 1] and explorer.instance_select.value == 0
    explorer.image_select.value = 1
    assert explorer.prediction["image_size"] == (40, 48)
    torch.testing.assert_close(explorer.steps.logits, explorer.prediction["mask_logits"][0])
    explorer.score_slider.value = 0.99
    assert (
        explorer.steps is None and explorer.blending.value == b"" and "no detection" in explorer.summary.value
    )


def _nest_boxes(explorer) -> None:
    """Detection 0 covers the left two thirds, 1 sits inside it, 2 covers the right edge."""
    explorer.prediction["boxes"][:3] = torch.tensor(
        [[0.0, 0.0, 30.0, 36.0], [10.0, 10.0, 20.0, 20.0], [32.0, 0.0, 44.0, 36.0]]
    )


def test_select_at_picks_the_smallest_box_under_the_pixel(explorer):
    _nest_boxes(explorer)
    assert explorer.select_at(15.0, 15.0) == 1, "the small detection inside the large one"
    assert explorer.instance_select.value == 1
    assert explorer.select_at(5.0, 30.0) == 0
    assert explorer.select_at(40.0, 3.0) == 2
    assert explorer.select_at(31.0, 1.0) is None, "outside every box"
    assert explorer.select_at(-3.0, 500.0) is None, "outside the image"
    assert explorer.instance_select.value == 2


def test_a_click_on_the_overview_selects_the_detection_under_it(explorer):
    _nest_boxes(explorer)
    pred = explorer.prediction
    height, width = pred["image_size"]
    # the front end reports fractions of the shown image; the pixel's centre lands inside that pixel
    explorer.overview.click = {"x": 15.5 / width, "y": 15.5 / height, "count": 1}
    assert explorer.instance_select.value == 1
    torch.testing.assert_close(explorer.steps.logits, pred["mask_logits"][1])
    explorer.overview.click = {"x": 31.5 / width, "y": 1.5 / height, "count": 2}  # outside every box
    assert explorer.instance_select.value == 1


def test_predictions_are_computed_once_per_image():
    predictor = FakePredictor()
    explorer = BlendingExplorer(predictor, IMAGES)
    explorer.image_select.value = 1
    explorer.image_select.value = 0
    assert predictor.calls == 2


def test_merge_comparison_shows_every_model_and_blender_attentions():
    models = {
        "blender": FakePredictor(method="blender", num_bases=4, attn_size=2),
        "weighted sum": FakePredictor(method="weighted_sum", num_bases=4, attn_size=1),
        "assembler": FakePredictor(method="assembler", num_bases=4, attn_size=2),
    }
    metrics = {
        "blender": {"segm": {"AP": 31.6}},
        "weighted sum": {"segm": {"AP": 29.7}},
        "assembler": {"segm": {"AP": 30.3}},
    }
    view = MergeComparison(models, IMAGES, metrics=metrics, score_threshold=0.3)
    assert set(view.mask_panels) == set(models) and set(view.attention_panels) == {"blender"}
    assert len(view.columns.children) == 3
    assert "<b>31.6</b>" in view.table.value and "segm/AP" in view.table.value
    first = {name: panel.value for name, panel in view.mask_panels.items()}
    view.image_select.value = 1
    assert all(view.mask_panels[name].value != first[name] for name in models)
    assert view.predictions["assembler"]["image_size"] == (40, 48)
    shown = view.mask_panels["blender"].value
    view.score_slider.value = 0.99
    assert view.mask_panels["blender"].value != shown


def test_metrics_table_marks_the_best_per_column():
    html = metrics_table({"a": {"AP": 30.0, "AP50": 0.5}, "b": {"AP": 31.0}})
    assert "<b>31.0</b>" in html and "<b>0.5</b>" in html and "–" in html and "AP (%)" in html
    assert "<b>50.0</b>" in metrics_table({"a": {"AP50": 0.5}}, fractions=True)
