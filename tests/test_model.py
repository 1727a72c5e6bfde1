"""BlendMask end to end: training step, eval contract (original size + intermediates), presets, overfit."""

from __future__ import annotations

import math

import pytest
import torch

from blendmask import BlendMask, BlendMaskConfig
from blendmask.config import PRESETS
from blendmask.modeling.blender import blend_steps, crop_bases
from blendmask.modeling.masks import mask_targets, paste_masks

pytestmark = pytest.mark.usefixtures("two_torch_threads")


def make_sample(height: int, width: int, boxes: list[list[int]], labels: list[int]):
    """An image with filled rectangles/ellipses of distinct colours and its target."""
    g = torch.Generator().manual_seed(height * 1000 + width)
    image = torch.rand(3, height, width, generator=g) * 0.2
    masks = torch.zeros(len(boxes), height, width, dtype=torch.bool)
    yy, xx = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    for i, ((x0, y0, x1, y1), label) in enumerate(zip(boxes, labels, strict=True)):
        if label == 0:
            masks[i, y0:y1, x0:x1] = True
        else:
            cx, cy, rx, ry = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2, (y1 - y0) / 2
            masks[i] = ((xx + 0.5 - cx) / rx) ** 2 + ((yy + 0.5 - cy) / ry) ** 2 <= 1
        colour = torch.tensor([0.9, 0.2, 0.1]) if label == 0 else torch.tensor([0.1, 0.8, 0.9])
        image[:, masks[i]] = colour[:, None]
    target = dict(
        boxes=torch.tensor(boxes, dtype=torch.float32),
        labels=torch.tensor(labels, dtype=torch.int64),
        masks=masks,
    )
    return image, target


def empty_sample(height: int, width: int):
    return torch.rand(3, height, width), dict(
        boxes=torch.zeros(0, 4),
        labels=torch.zeros(0, dtype=torch.int64),
        masks=torch.zeros(0, height, width, dtype=torch.bool),
    )


def tiny(**overrides) -> BlendMaskConfig:
    return BlendMaskConfig.from_preset("cpu_tiny", num_classes=2, **overrides)


VARIANTS = {
    "blender": {},
    "one_basis": dict(num_bases=1),
    "weighted_sum": dict(method="weighted_sum", attn_size=1),
    "assembler": dict(method="assembler", num_bases=16, attn_size=4),
    "deeplab_c3c5_s8_roipool": dict(
        bottom_module="deeplabv3plus",
        bottom_in_features=("c3", "c5"),
        bases_stride=8,
        pooler="nearest",
        top_interp="nearest",
    ),
    "mobilenet_v2_frozen_bn": dict(backbone="mobilenet_v2", frozen_bn=True, freeze_at=2),
    "proto_p3_shared_capped": dict(
        bottom_module="proto_p3",
        bottom_in_features=("p3",),
        fcos_shared_tower=True,
        fcos_norm="BN",
        max_positives_per_image=3,
    ),
}


@pytest.mark.parametrize("name", list(VARIANTS))
def test_training_step_with_an_empty_image(name):
    torch.manual_seed(0)
    model = BlendMask(tiny(**VARIANTS[name])).train()
    samples = [make_sample(96, 128, [[10, 10, 60, 50], [50, 30, 120, 90]], [0, 1]), empty_sample(128, 100)]
    images, targets = zip(*samples, strict=True)
    losses = model(list(images), list(targets))
    assert set(losses) == {"loss_cls", "loss_box", "loss_ctr", "loss_mask", "loss_sem"}
    assert all(v.dim() == 0 and torch.isfinite(v) for v in losses.values())
    assert losses["loss_mask"] > 0
    sum(losses.values()).backward()
    bottom_grads = [p.grad for p in model.bottom.parameters()]
    assert all(g is not None for g in bottom_grads) and any(g.abs().sum() > 0 for g in bottom_grads)
    if model.head.top_layer is None:
        assert name == "assembler"
    else:
        assert model.head.top_layer.weight.grad.abs().sum() > 0


def test_all_empty_batch_trains():
    model = BlendMask(tiny()).train()
    image, target = empty_sample(64, 64)
    losses = model([image], [target])
    assert losses["loss_box"] == 0 and losses["loss_mask"] == 0 and torch.isfinite(losses["loss_cls"])
    sum(losses.values()).backward()


def test_bad_targets_are_named():
    model = BlendMask(tiny()).train()
    image, target = make_sample(64, 64, [[4, 4, 30, 30]], [0])
    with pytest.raises(ValueError, match="masks"):
        model([image], [dict(target, masks=target["masks"][:, :32])])
    with pytest.raises(ValueError, match="labels"):
        model([image], [dict(target, labels=torch.tensor([7]))])
    with pytest.raises(ValueError, match="images\\[0\\]"):
        model([image[0]], [target])


def check_prediction(pred, cfg, image_size):
    d = len(pred["scores"])
    h_in, w_in = pred["input_size"]
    k, m, r, s = cfg.num_bases, cfg.attn_size, cfg.bottom_resolution, cfg.bases_stride
    assert pred["image_size"] == image_size
    assert pred["boxes"].shape == (d, 4) and pred["labels"].dtype == torch.int64
    assert pred["masks"].shape == (d, *image_size) and pred["masks"].dtype == torch.bool
    assert pred["bases"].shape == (k, math.ceil(h_in / s), math.ceil(w_in / s))
    assert pred["rois"].shape == (d, k, r, r) and pred["mask_logits"].shape == (d, r, r)
    assert pred["blend_args"] == cfg.blend_args
    if cfg.method == "assembler":
        assert pred["attentions"] is None
    else:
        assert pred["attentions"].shape == (d, k, m, m)
    sy, sx = pred["scale"]
    assert sy == pytest.approx(h_in / image_size[0]) and sx == pytest.approx(w_in / image_size[1])
    scale = torch.tensor([sx, sy, sx, sy])
    torch.testing.assert_close(pred["boxes"] * scale, pred["input_boxes"], atol=1e-3, rtol=1e-4)
    args = pred["blend_args"]
    rois = crop_bases(
        pred["bases"][None],
        [pred["input_boxes"]],
        resolution=args["resolution"],
        stride=args["stride"],
        pooler=args["pooler"],
    )
    torch.testing.assert_close(rois, pred["rois"], atol=0, rtol=0)
    logits = blend_steps(
        pred["rois"],
        pred["attentions"],
        method=args["method"],
        attn_size=args["attn_size"],
        top_interp=args["top_interp"],
    ).logits
    torch.testing.assert_close(logits, pred["mask_logits"], atol=0, rtol=0)


@pytest.mark.parametrize("name", ["blender", "assembler", "one_basis"])
def test_eval_contract_with_resizing(name):
    """Test-time resize 100x150 -> 64x96: boxes and masks come back in the original size."""
    torch.manual_seed(0)
    cfg = tiny(
        fcos_score_thresh=0.0, fcos_post_nms_topk=20, min_size_test=64, max_size_test=200, **VARIANTS[name]
    )
    model = BlendMask(cfg).eval()
    preds = model([torch.rand(3, 100, 150), torch.rand(3, 60, 70)])
    assert preds[0]["input_size"] == (64, 96) and preds[1]["input_size"] == (64, 75)
    for pred, size in zip(preds, [(100, 150), (60, 70)], strict=True):
        assert len(pred["scores"]) == 20
        assert (pred["boxes"][:, 2] <= size[1]).all() and (pred["boxes"][:, 3] <= size[0]).all()
        check_prediction(pred, cfg, size)


def test_zero_detections_and_intermediates_off():
    cfg = tiny(fcos_score_thresh=1.0)
    model = BlendMask(cfg).eval()
    pred = model([torch.rand(3, 70, 90)])[0]
    check_prediction(pred, cfg, (70, 90))
    assert pred["boxes"].shape == (0, 4) and pred["masks"].shape == (0, 70, 90)
    model.return_intermediates = False
    pred = model([torch.rand(3, 70, 90)])[0]
    assert set(pred) == {"boxes", "scores", "labels", "masks"}


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_trains_and_predicts_at_small_size(name):
    torch.manual_seed(0)
    cfg = BlendMaskConfig.from_preset(
        name, num_classes=2, min_size_test=96, max_size_test=128, fcos_score_thresh=0.0, fcos_post_nms_topk=5
    )
    model = BlendMask(cfg).train()
    image, target = make_sample(96, 128, [[10, 10, 60, 50], [50, 30, 120, 90]], [0, 1])
    losses = model([image], [target])
    assert all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    model.eval()
    pred = model([image])[0]
    check_prediction(pred, cfg, (96, 128))


def test_mask_targets_and_pasting_round_trip():
    masks = torch.zeros(1, 60, 80, dtype=torch.bool)
    masks[0, 10:40, 20:50] = True
    box = torch.tensor([[20.0, 10, 50, 40]])
    target = mask_targets(masks, box, 28)
    assert target.shape == (1, 28, 28) and target.min() == 1  # the box is exactly the mask
    pasted = paste_masks(target, box, (60, 80))
    assert torch.equal(pasted, masks)
    half = target.clone()
    half[:, :, 14:] = 0  # left half of the box only
    pasted = paste_masks(half, box, (60, 80))
    assert pasted[0, 10:40, 20:35].all() and not pasted[0, :, 35:].any()
    assert not paste_masks(torch.zeros(1, 28, 28), box, (60, 80)).any()


@pytest.mark.slow
def test_cpu_tiny_overfits_two_images():
    """cpu_tiny learns the masks of two fixed images: mean best-IoU over GT instances > 0.8."""
    torch.manual_seed(0)
    samples = [
        make_sample(128, 128, [[8, 10, 60, 58], [70, 20, 120, 100], [20, 70, 64, 120]], [0, 1, 1]),
        make_sample(128, 128, [[30, 30, 100, 90], [5, 95, 50, 125]], [1, 0]),
    ]
    images, targets = (list(x) for x in zip(*samples, strict=True))
    cfg = tiny(warmup_iters=10)
    model = BlendMask(cfg).train()
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps = 150
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = cfg.lr * min(1.0, (step + 1) / cfg.warmup_iters)
        loss = sum(model(images, targets).values())
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    ious = []
    for pred, target in zip(model(images), targets, strict=True):
        for gt, label in zip(target["masks"], target["labels"], strict=True):
            same = pred["masks"][pred["labels"] == label]
            inter = (same & gt).flatten(1).sum(1)
            union = (same | gt).flatten(1).sum(1)
            ious.append((inter / union).max().item() if len(same) else 0.0)
    assert sum(ious) / len(ious) > 0.8, ious
