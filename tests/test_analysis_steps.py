"""viz.blending_steps: Figure 1's numbers, equal to the prediction's mask logits."""

from __future__ import annotations

import pytest
import torch
from fakes import CASES, make_prediction

from blendmask.analysis.steps import blending_steps, top_bases
from blendmask.structures import Prediction

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c['method']}-K{c['num_bases']}")
def test_blending_steps_equal_the_mask_logits(case):
    pred = make_prediction(**case)
    for d in range(len(pred["boxes"])):
        steps = blending_steps(pred, d)
        torch.testing.assert_close(steps.logits, pred["mask_logits"][d])
        torch.testing.assert_close(steps.rois, pred["rois"][d])
        assert steps.weights.shape == steps.products.shape == steps.rois.shape
        assert torch.equal(steps.mask, steps.logits.sigmoid() >= 0.5)
        assert steps.box.tolist() == pred["boxes"][d].tolist()
        if steps.num_bases > 1:
            torch.testing.assert_close(steps.weights.sum(0), torch.ones_like(steps.logits))
            torch.testing.assert_close(steps.products.sum(0), steps.logits)
        else:
            torch.testing.assert_close(steps.products[0], steps.logits.sigmoid(), atol=1e-5, rtol=1e-4)


def test_assembler_weights_are_one_hot_tiles():
    pred = make_prediction(method="assembler", num_bases=4, attn_size=2, resolution=8)
    weights = blending_steps(pred, 0).weights
    assert torch.equal(weights[0, :4, :4], torch.ones(4, 4)) and weights[0, 4:].sum() == 0
    assert torch.equal(weights[3, 4:, 4:], torch.ones(4, 4))


def test_one_basis_left_on_gives_exactly_its_product():
    steps = blending_steps(make_prediction(), 1)
    for k in range(steps.num_bases):
        scales = [0.0] * steps.num_bases
        scales[k] = 1.0
        torch.testing.assert_close(steps.scaled(scales).logits, steps.products[k])
    doubled = steps.scaled([2.0] * steps.num_bases)
    torch.testing.assert_close(doubled.logits, 2 * steps.logits)
    assert torch.equal(doubled.mask, steps.mask), "at threshold 0.5 only the logits' sign matters"


def test_scaling_needs_one_factor_per_basis_and_unscaled_steps():
    steps = blending_steps(make_prediction(), 0)
    with pytest.raises(ValueError, match="one scale per basis"):
        steps.scaled([1.0])
    with pytest.raises(ValueError, match="as predicted"):
        steps.scaled([0.0, 1.0, 1.0, 1.0]).scaled([1.0] * 4)


def test_mask_threshold_is_applied():
    pred = make_prediction()
    low, high = blending_steps(pred, 0, mask_threshold=0.1), blending_steps(pred, 0, mask_threshold=0.9)
    assert low.mask.sum() > high.mask.sum()
    assert torch.equal(low.mask, pred["mask_logits"][0].sigmoid() >= 0.1)


def test_missing_intermediates_and_bad_index_are_named():
    pred = make_prediction()
    detections_only = Prediction(boxes=pred.boxes, scores=pred.scores, labels=pred.labels, masks=pred.masks)
    with pytest.raises(KeyError, match="attentions"):
        blending_steps(detections_only, 0)
    with pytest.raises(IndexError, match="out of range for 3"):
        blending_steps(make_prediction(), 3)


def test_top_bases_keeps_the_largest_contributions():
    pred = make_prediction(method="assembler", num_bases=16, attn_size=4, resolution=8)
    steps = blending_steps(pred, 0)
    chosen = top_bases(steps, 5)
    contribution = steps.products.abs().mean(dim=(1, 2))
    assert len(chosen) == 5 and chosen == sorted(chosen)
    assert contribution[chosen].min() >= max(contribution[k] for k in range(16) if k not in chosen)
    assert top_bases(steps, 16) == list(range(16))
