"""Contract-conforming Predictions built from random bases, boxes and attentions.

The viz tests import ``make_prediction`` / ``make_image`` from here, so they run without a
model; the tests below check that these predictions honour the model's documented invariants.
"""

from __future__ import annotations

import math

import pytest
import torch

from blendmask.modeling.blender import blend_steps, crop_bases
from blendmask.structures import BlendSettings, Prediction
from viz.images import paste_in_box

STRIDE = 4


@pytest.fixture
def one_torch_thread():
    """Tiny tensors run far faster on one intra-op thread when the CPU is shared (no OpenMP waits)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def make_image(height: int = 36, width: int = 44, seed: int = 0) -> torch.Tensor:
    """A smooth random RGB image (3, H, W) in 0..1."""
    gen = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, 5, 6, generator=gen)
    return torch.nn.functional.interpolate(coarse, size=(height, width), mode="bilinear")[0]


def make_prediction(
    *,
    method: str = "blender",
    num_bases: int = 4,
    attn_size: int = 4,
    resolution: int = 8,
    num_dets: int = 3,
    image_size: tuple[int, int] = (36, 44),
    scale: float = 1.5,
    seed: int = 0,
) -> Prediction:
    """An eval-mode Prediction whose intermediates are random but consistent."""
    gen = torch.Generator().manual_seed(seed)
    height, width = image_size
    input_size = (round(height * scale), round(width * scale))
    bases = 3.0 * torch.randn(
        num_bases, math.ceil(input_size[0] / STRIDE), math.ceil(input_size[1] / STRIDE), generator=gen
    )
    xy = torch.rand(num_dets, 2, generator=gen) * torch.tensor([width * 0.5, height * 0.5])
    wh = (0.3 + 0.4 * torch.rand(num_dets, 2, generator=gen)) * torch.tensor([width, height])
    boxes = torch.cat([xy, (xy + wh).minimum(torch.tensor([width, height]))], dim=1)
    input_boxes = boxes * scale
    attentions = (
        None
        if method == "assembler"
        else 2.0 * torch.randn(num_dets, num_bases, attn_size, attn_size, generator=gen)
    )
    blend_args = BlendSettings(
        resolution=resolution,
        stride=STRIDE,
        method=method,
        attn_size=attn_size,
        pooler="bilinear",
        top_interp="bilinear",
    )
    rois = crop_bases(bases[None], [input_boxes], resolution=resolution, stride=STRIDE)
    logits = blend_steps(rois, attentions, method=method, attn_size=attn_size).logits
    masks = torch.zeros(num_dets, height, width, dtype=torch.bool)
    for d in range(num_dets):
        masks[d] = paste_in_box(logits[d][None].sigmoid(), boxes[d], image_size)[0] >= 0.5
    return Prediction(
        boxes=boxes,
        scores=torch.linspace(0.95, 0.35, num_dets),
        labels=torch.arange(num_dets) % 3,
        masks=masks,
        bases=bases,
        input_boxes=input_boxes,
        attentions=attentions,
        rois=rois,
        mask_logits=logits,
        image_size=image_size,
        input_size=input_size,
        scale=(scale, scale),
        blend_args=blend_args,
    )


CASES = [
    dict(method="blender", num_bases=4, attn_size=4),
    dict(method="blender", num_bases=1, attn_size=4),
    dict(method="weighted_sum", num_bases=4, attn_size=1),
    dict(method="assembler", num_bases=4, attn_size=2),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c['method']}-K{c['num_bases']}")
def test_fixture_honours_the_prediction_invariants(case):
    pred = make_prediction(**case)
    args = pred["blend_args"]
    rois = crop_bases(
        pred["bases"][None],
        [pred["input_boxes"]],
        resolution=args["resolution"],
        stride=args["stride"],
        pooler=args["pooler"],
    )
    torch.testing.assert_close(rois, pred["rois"])
    logits = blend_steps(
        pred["rois"],
        pred["attentions"],
        method=args["method"],
        attn_size=args["attn_size"],
        top_interp=args["top_interp"],
    ).logits
    torch.testing.assert_close(logits, pred["mask_logits"])
    assert pred["masks"].dtype == torch.bool and pred["masks"].shape[1:] == pred["image_size"]
    assert pred["masks"].any(dim=(1, 2)).all(), "every random detection has some mask pixels"


def test_fixture_with_zero_detections_has_empty_tensors():
    pred = make_prediction(num_dets=0)
    assert pred["boxes"].shape == (0, 4) and pred["rois"].shape[0] == 0 and pred["masks"].shape[0] == 0
