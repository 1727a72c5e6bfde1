"""FCOS: locations, target assignment on hand-made boxes, losses, inference decoding."""

from __future__ import annotations

import math

import torch

from blendmask import BlendMaskConfig
from blendmask.modeling.fcos_inference import detect_image
from blendmask.modeling.fcos_loss import fcos_losses
from blendmask.modeling.fcos_targets import assign_targets, centerness_targets, level_points, make_locations

STRIDES = (8, 16, 32)
SOI = (64, 128)


def locations_for(size: int):
    shapes = [(math.ceil(size / s), math.ceil(size / s)) for s in STRIDES]
    return make_locations(shapes, STRIDES, SOI)


def positives(locs, boxes, labels, radius=1.5):
    t = assign_targets(locs, boxes, labels, num_classes=5, center_sample_radius=radius)
    pos = (t.labels != 5).nonzero(as_tuple=True)[0]
    level = torch.bucketize(pos, torch.tensor(locs.level_sizes).cumsum(0), right=True)
    return t, pos, level


def test_level_points_are_stride_centres():
    pts = level_points(2, 3, 8)
    expected = torch.tensor([[4.0, 4], [12, 4], [20, 4], [4, 12], [12, 12], [20, 12]])
    torch.testing.assert_close(pts, expected)


def test_size_ranges_per_level():
    locs = locations_for(64)
    lo, hi = locs.size_ranges[:, 0], locs.size_ranges[:, 1]
    assert locs.level_sizes == [64, 16, 4]
    assert (
        lo[0] == -1
        and hi[0] == 64
        and lo[64] == 64
        and hi[64] == 128
        and lo[-1] == 128
        and math.isinf(hi[-1])
    )


def test_small_box_goes_to_p3_centre_region():
    """A 40 px box centred at (64, 64): max(l,t,r,b) <= 64 -> P3; centre radius 1.5 * 8 = 12 px."""
    locs = locations_for(128)
    t, pos, level = positives(locs, torch.tensor([[44.0, 44, 84, 84]]), torch.tensor([3]))
    assert (level == 0).all()
    xy = locs.points[pos]
    # P3 centres are 4 + 8i; those strictly within 12 px of 64 are 60 and 68.
    assert sorted(map(tuple, xy.tolist())) == [(60.0, 60.0), (60.0, 68.0), (68.0, 60.0), (68.0, 68.0)]
    assert (t.labels[pos] == 3).all() and (t.gt_inds[pos] == 0).all()
    torch.testing.assert_close(t.reg_targets[pos[0]], torch.tensor([16.0, 16, 24, 24]))
    assert (t.gt_inds[t.labels == 5] == -1).all()


def test_without_center_sampling_the_whole_box_is_positive():
    locs = locations_for(128)
    _, pos, level = positives(locs, torch.tensor([[44.0, 44, 84, 84]]), torch.tensor([0]), radius=0)
    assert (level == 0).all() and len(pos) == 16  # P3 centres 44 < 4 + 8i < 84: i = 6..9


def test_large_box_goes_to_higher_level():
    """A 200 px box centred at (128, 128): max(l,t,r,b) at its centre is 100 -> P4 (64..128)."""
    locs = locations_for(256)
    _, pos, level = positives(locs, torch.tensor([[28.0, 28, 228, 228]]), torch.tensor([1]))
    assert len(pos) > 0 and (level == 1).all()
    radius = 1.5 * 16
    assert ((locs.points[pos] - 128).abs() < radius).all()


def test_ambiguous_location_takes_smallest_area():
    locs = locations_for(128)
    boxes = torch.tensor([[20.0, 20, 100, 100], [44.0, 44, 84, 84]])  # both on P3 around (60, 60)
    t, pos, _ = positives(locs, boxes, torch.tensor([1, 2]), radius=0)
    centre = ((locs.points - torch.tensor([60.0, 60])).abs().sum(dim=1) == 0) & (locs.strides == 8)
    idx = centre.nonzero()[0, 0]
    assert t.labels[idx] == 2 and t.gt_inds[idx] == 1
    # A P3 location inside the big box only (l, t, r, b = 16, 40, 64, 40) keeps the big box.
    corner = ((locs.points - torch.tensor([36.0, 60])).abs().sum(dim=1) == 0) & (locs.strides == 8)
    assert t.labels[corner.nonzero()[0, 0]] == 1


def test_empty_image_has_no_positives():
    locs = locations_for(64)
    t = assign_targets(locs, torch.zeros(0, 4), torch.zeros(0, dtype=torch.int64), num_classes=5)
    assert (t.labels == 5).all() and (t.gt_inds == -1).all()


def test_centerness_targets():
    ctr = centerness_targets(torch.tensor([[10.0, 10, 10, 10], [10, 5, 30, 20]]))
    torch.testing.assert_close(ctr, torch.tensor([1.0, math.sqrt(1 / 3 * 1 / 4)]))


def test_losses_reward_correct_predictions():
    cfg = BlendMaskConfig.from_preset("cpu_tiny", num_classes=2)
    locs = locations_for(64)
    t = assign_targets(locs, torch.tensor([[8.0, 8, 40, 40]]), torch.tensor([1]), num_classes=2)
    labels, reg = t.labels[None], t.reg_targets[None]
    pos = labels != 2
    num = labels.shape[1]
    perfect_cls = torch.full((1, num, 2), -12.0)
    perfect_cls[0, pos[0], 1] = 12.0
    perfect_reg = (reg / locs.strides[None, :, None]).clamp_min(0)
    ctr_logit = torch.logit(centerness_targets(perfect_reg[pos]).clamp(1e-4, 1 - 1e-4))
    ctr = torch.zeros(1, num, 1)
    ctr[0, pos[0], 0] = ctr_logit
    good = fcos_losses(perfect_cls, perfect_reg, ctr, labels, reg, locs.strides, cfg)
    bad = fcos_losses(-perfect_cls, perfect_reg * 0.3, ctr, labels, reg, locs.strides, cfg)
    assert good.losses["loss_box"] < 1e-5 and good.losses["loss_cls"] < 1e-3
    assert bad.losses["loss_box"] > 0.1 and bad.losses["loss_cls"] > 1.0
    assert int(good.positive.sum()) == len(good.ctr_targets) > 0


def test_detect_image_decodes_boxes_scores_and_nms():
    cfg = BlendMaskConfig.from_preset("cpu_tiny", num_classes=2)
    shapes = [(8, 8), (4, 4), (2, 2)]
    locs = make_locations(shapes, STRIDES, (32, 64))
    points = list(locs.points.split(locs.level_sizes))
    cls = [torch.full((2, h, w), -20.0) for h, w in shapes]
    reg = [torch.ones(4, h, w) for h, w in shapes]
    ctr = [torch.full((1, h, w), 20.0) for h, w in shapes]
    top = [
        torch.arange(h * w, dtype=torch.float32).expand(cfg.num_bases * 49, h * w).reshape(-1, h, w)
        for h, w in shapes
    ]
    cls[0][1, 2, 3] = 2.0  # location (x=28, y=20), class 1, prob sigmoid(2)
    reg[0][:, 2, 3] = torch.tensor([1.0, 2, 3, 4])  # l t r b in stride units (8 px)
    cls[0][1, 2, 4] = 1.0  # its neighbour, same class, overlapping box -> suppressed by NMS
    reg[0][:, 2, 4] = torch.tensor([2.0, 2, 2, 4])
    cls[0][0, 2, 4] = 1.0  # same location, other class -> kept
    dets = detect_image(cls, reg, ctr, top, points, STRIDES, (64, 64), cfg)
    assert dets.labels.tolist() == [1, 0]
    torch.testing.assert_close(dets.boxes[0], torch.tensor([20.0, 4, 52, 52]))
    torch.testing.assert_close(dets.scores[0], torch.sigmoid(torch.tensor(2.0)).sqrt(), atol=1e-4, rtol=0)
    assert dets.attentions.shape == (2, cfg.num_bases * 49)
    assert dets.attentions[0, 0] == 2 * 8 + 3 and dets.attentions[1, 0] == 2 * 8 + 4


def test_losses_are_float32_under_bfloat16_heads():
    """Mixed precision hands the loss bfloat16 head outputs; the losses are still computed in float32
    (a bfloat16 focal loss diverged when training R_50_1x on a GPU)."""
    cfg = BlendMaskConfig.from_preset("cpu_tiny", num_classes=2)
    locs = locations_for(64)
    t = assign_targets(locs, torch.tensor([[8.0, 8, 40, 40]]), torch.tensor([1]), num_classes=2)
    labels, reg = t.labels[None], t.reg_targets[None]
    g = torch.Generator().manual_seed(0)
    num = labels.shape[1]
    heads = [
        torch.randn(1, num, 2, generator=g) * 6,
        torch.rand(1, num, 4, generator=g) * 4,
        torch.randn(1, num, 1, generator=g),
    ]
    low = fcos_losses(*(h.bfloat16() for h in heads), labels, reg, locs.strides, cfg).losses
    full = fcos_losses(*(h.bfloat16().float() for h in heads), labels, reg, locs.strides, cfg).losses
    for name, value in low.items():
        assert value.dtype == torch.float32, name
        torch.testing.assert_close(value, full[name], rtol=0, atol=0)
