"""Model-free stand-ins for the viz and analysis tests: contract-conforming Predictions built from
random bases, boxes and attentions, a predictor and an inspection that serve them."""

from __future__ import annotations

import math

import torch

from blendmask.modeling.blender import blend_steps, crop_bases
from blendmask.structures import BlendSettings, Prediction
from viz.images import paste_in_box

STRIDE = 4


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


class FakePredictor:
    """``.predict(image)`` like the engine's Predictor: a fixed random prediction per image size."""

    def __init__(self, **options) -> None:
        self.options = options
        self.calls = 0

    def predict(self, image: torch.Tensor) -> Prediction:
        self.calls += 1
        height, width = image.shape[-2:]
        return make_prediction(image_size=(height, width), seed=width, **self.options)


IMAGES = [make_image(36, 44, seed=0), make_image(40, 48, seed=1)]


class FakeInspection:
    """What ScoreThresholdView reads of an Inspection: two images, no ground-truth matches."""

    categories = ["a", "b", "c"]

    def __init__(self) -> None:
        self.images = [type("Item", (), {"image_id": 7 + i})() for i in range(2)]
        self.thresholds: list[float] = []

    def matches(self, *, score_threshold: float, match_threshold: float) -> list:
        self.thresholds.append(score_threshold)
        return []

    def image(self, position: int):
        target = {"boxes": torch.tensor([[2.0, 2.0, 20.0, 20.0]]), "labels": torch.tensor([1])}
        return IMAGES[position], target

    def prediction(self, position: int) -> Prediction:
        pred = make_prediction(image_size=tuple(IMAGES[position].shape[-2:]))
        return Prediction(boxes=pred.boxes, scores=pred.scores, labels=pred.labels, masks=pred.masks)
