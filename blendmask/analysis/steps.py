"""The numbers behind the paper's Figure 1 for one detection, read from a Prediction.

Everything comes from the intermediates the model stores in its eval-mode prediction
(``rois``, ``attentions``, ``blend_args``); the blender's own ``blend_steps`` recomputes the
weights and products, so the logits here are the model's ``mask_logits`` exactly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import torch
from torch import Tensor

from ..modeling.blender import blend_steps, crop_bases, merge
from ..structures import Prediction

INTERMEDIATES = ("rois", "attentions", "blend_args", "boxes", "input_boxes")


def require_fields(prediction: Prediction, fields: Sequence[str]) -> None:
    """Raise a KeyError naming every missing field of the prediction."""
    missing = [f for f in fields if f not in prediction]
    if missing:
        raise KeyError(
            f"prediction lacks {missing}; run the model with return_intermediates=True "
            f"(has: {sorted(prediction)})"
        )


def num_detections(prediction: Prediction | Mapping) -> int:
    """D, the number of detections of a prediction (or instances of a target) dict."""
    return int(prediction["boxes"].shape[0])


@dataclass(frozen=True)
class BlendingSteps:
    """Blender intermediates of one detection; K bases, R x R region, M x M attention."""

    index: int
    method: str
    rois: Tensor  # (K, R, R) cropped bases r^k
    attention: Tensor | None  # (K, M, M) top-level attention, pre-softmax (None for the assembler)
    weights: Tensor  # (K, R, R) interpolated + soft-maxed attention s^k (sigmoid if K = 1)
    products: Tensor  # (K, R, R) s^k * r^k (sigmoid(r) * s if K = 1)
    logits: Tensor  # (R, R) mask logits m = sum_k products (logit of the product if K = 1)
    mask: Tensor  # (R, R) bool, sigmoid(logits) >= mask_threshold
    box: Tensor  # (4,) xyxy in original image px
    input_box: Tensor  # (4,) xyxy in input px (the blender's proposal)
    label: int
    score: float
    mask_threshold: float
    scales: tuple[float, ...]  # per-basis factor applied to the weights (1 = as predicted)

    @property
    def num_bases(self) -> int:
        return int(self.rois.shape[0])

    @property
    def resolution(self) -> int:
        return int(self.rois.shape[-1])

    @property
    def probs(self) -> Tensor:
        """(R, R) mask probability sigmoid(m)."""
        return self.logits.sigmoid()

    def scaled(self, scales: Sequence[float]) -> BlendingSteps:
        """The same detection with weight s^k multiplied by ``scales[k]`` (0 switches basis k off).

        No renormalisation: with every basis but k off, the logits are exactly product k.
        """
        if len(scales) != self.num_bases:
            raise ValueError(f"need one scale per basis ({self.num_bases}), got {len(scales)}")
        if any(s != 1.0 for s in self.scales):
            raise ValueError(
                "scale the steps as predicted (blending_steps(...).scaled(...)), not scaled ones"
            )
        factors = torch.tensor([float(s) for s in scales], dtype=self.weights.dtype)
        weights = self.weights * factors[:, None, None]
        products, logits = merge(self.rois[None], weights[None])
        logits = logits[0]
        return replace(
            self,
            weights=weights,
            products=products[0],
            logits=logits,
            mask=logits.sigmoid() >= self.mask_threshold,
            scales=tuple(float(s) for s in scales),
        )


def blending_steps(prediction: Prediction, index: int, *, mask_threshold: float = 0.5) -> BlendingSteps:
    """Figure 1's numbers for detection ``index`` of an eval-mode prediction with intermediates.

    Returns cropped bases (K, R, R), weights (K, R, R) (sum to 1 over K for K > 1), products
    (K, R, R), logits (R, R) equal to ``prediction["mask_logits"][index]``, and the R x R mask.
    """
    require_fields(prediction, INTERMEDIATES)
    total = num_detections(prediction)
    if not 0 <= index < total:
        raise IndexError(f"detection index {index} out of range for {total} detections")
    settings = prediction.blend_args
    method = settings.method
    detection = prediction.select(index).cpu()
    rois = detection.rois.float()
    attention = None if detection.attentions is None else detection.attentions.float()
    steps = blend_steps(
        rois, attention, method=method, attn_size=settings.attn_size, top_interp=settings.top_interp
    )
    logits = steps.logits[0]
    return BlendingSteps(
        index=index,
        method=method,
        rois=steps.rois[0],
        attention=None if attention is None else attention[0],
        weights=steps.weights[0],
        products=steps.products[0],
        logits=logits,
        mask=logits.sigmoid() >= mask_threshold,
        box=detection.boxes[0].float(),
        input_box=detection.input_boxes[0].float(),
        label=int(detection.labels[0]),
        score=float(detection.scores[0]),
        mask_threshold=mask_threshold,
        scales=(1.0,) * steps.rois.shape[1],
    )


def top_bases(steps: BlendingSteps, max_bases: int) -> list[int]:
    """Indices (ascending) of the ``max_bases`` bases with the largest mean |product|."""
    if steps.num_bases <= max_bases:
        return list(range(steps.num_bases))
    contribution = steps.products.abs().mean(dim=(1, 2))
    return sorted(contribution.argsort(descending=True)[:max_bases].tolist())


def crop_in_box(image: Tensor, box: Tensor, resolution: int) -> Tensor:
    """RoIAlign of box (4,) xyxy px out of ``image`` (C, H, W) -> (C, R, R), as the blender crops bases."""
    boxes = [box.reshape(1, 4).float()]
    return crop_bases(image[None].float(), boxes, resolution=resolution, stride=1)[0]
