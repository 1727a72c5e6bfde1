"""draw_instances: holes kept, deterministic colours, thresholds, GT | prediction."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from blendmask.structures import Prediction
from viz import draw_instances, instance_color, mask_outline

SIZE = 48


def ring(cy: int, cx: int, inner: float, outer: float) -> torch.Tensor:
    yy, xx = torch.meshgrid(torch.arange(SIZE), torch.arange(SIZE), indexing="ij")
    dist = ((yy - cy) ** 2 + (xx - cx) ** 2).float().sqrt()
    return (dist >= inner) & (dist <= outer)


def square(y0: int, x0: int, side: int) -> torch.Tensor:
    mask = torch.zeros(SIZE, SIZE, dtype=torch.bool)
    mask[y0 : y0 + side, x0 : x0 + side] = True
    return mask


def two_squares() -> Prediction:
    """A prediction with two separate squares scoring 0.9 and 0.3."""
    return Prediction(
        boxes=torch.tensor([[4.0, 4.0, 20.0, 20.0], [28.0, 28.0, 44.0, 44.0]]),
        scores=torch.tensor([0.9, 0.3]),
        labels=torch.tensor([0, 0]),
        masks=torch.stack([square(4, 4, 16), square(28, 28, 16)]),
    )


BLACK = torch.zeros(3, SIZE, SIZE)


def test_a_ring_stays_a_ring():
    mask = ring(24, 24, 7, 15)
    target = dict(boxes=torch.tensor([[9.0, 9.0, 40.0, 40.0]]), labels=torch.tensor([1]), masks=mask[None])
    drawn = draw_instances(BLACK, target, show_labels=False)
    assert drawn.dtype == np.uint8 and drawn.shape == (SIZE, SIZE, 3)
    assert (drawn[20:29, 20:29] == 0).all(), "the hole is not filled"
    assert (drawn[mask.numpy()] > 0).any(axis=-1).all(), "the ring is filled"
    inner_edge = mask_outline(mask[None])[0] & ~ring(24, 24, 9, 48)
    assert inner_edge.sum() > 20, "the hole's border is a contour"
    assert (drawn[inner_edge.numpy()] == instance_color(0)).all()


def test_outline_is_the_border_only():
    mask = square(10, 10, 10)
    outline = mask_outline(mask[None], width=2)[0]
    assert outline.sum() == 100 - 36 and not outline[14:16, 14:16].any()


def test_colours_are_deterministic_and_follow_the_instance_index():
    pred = two_squares()
    first, again = (
        draw_instances(BLACK, pred, score_threshold=0.0),
        draw_instances(BLACK, pred, score_threshold=0.0),
    )
    assert np.array_equal(first, again)
    assert tuple(first[35, 28]) == instance_color(1), "left edge of instance 1 is its contour colour"
    only_first = draw_instances(BLACK, pred, score_threshold=0.5)
    assert tuple(only_first[12, 4]) == instance_color(0), (
        "instance 0 keeps its colour when others are dropped"
    )
    by_class = draw_instances(BLACK, pred, score_threshold=0.0, color_by="class")
    assert tuple(by_class[12, 4]) == tuple(by_class[35, 28]) == instance_color(0)


def test_score_threshold_drops_low_scoring_detections():
    pred = two_squares()
    drawn = draw_instances(BLACK, pred, score_threshold=0.5)
    assert (drawn[8:18, 8:18] > 0).any(axis=-1).all()
    assert (drawn[26:, 26:] == 0).all(), "the 0.3 detection is not drawn"
    assert (draw_instances(BLACK, pred, score_threshold=0.95) == 0).all()


def test_labels_use_class_names_and_change_pixels():
    pred = two_squares()
    plain = draw_instances(BLACK, pred, score_threshold=0.0, show_labels=False)
    named = draw_instances(BLACK, pred, score_threshold=0.0, class_names=["ring"], font_size=9)
    assert not np.array_equal(plain, named)


def test_ground_truth_and_prediction_side_by_side():
    pred = two_squares()
    truth = dict(boxes=pred["boxes"][:1], labels=pred["labels"][:1], masks=pred["masks"][:1])
    both = draw_instances(BLACK, pred, ground_truth=truth, score_threshold=0.0, show_boxes=False)
    band = both.shape[0] - SIZE
    assert both.shape[1] == 2 * SIZE + 6 and band > 0
    left, right = both[band:, :SIZE], both[band:, SIZE + 6 :]
    assert (left[30:40, 30:40] == 0).all() and (right[30:40, 30:40] > 0).any(axis=-1).all()
    assert np.array_equal(left, draw_instances(BLACK, truth, show_boxes=False))


def test_bad_masks_are_named():
    pred = two_squares()
    pred.masks = pred.masks[:, :10]
    with pytest.raises(ValueError, match="'masks'"):
        draw_instances(BLACK, pred, score_threshold=0.0)
    with pytest.raises(ValueError, match="color_by"):
        draw_instances(BLACK, two_squares(), color_by="score")
