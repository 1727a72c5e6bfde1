"""Research probes: how much of a mask can given bases express at attention size M?

``oracle_attention`` optimises the top-level attention directly against a ground-truth mask,
with the detection's cropped bases held fixed: the IoU it reaches bounds what any attention head
could achieve on those bases; compare it with the predicted attention's IoU.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from ..config import BlendMaskConfig
from ..modeling.blender import attention_weights, merge
from ..structures import Prediction
from .matching import match_to_ground_truth
from .steps import blending_steps, crop_in_box


@dataclass(frozen=True)
class OracleResult:
    """The best attention found for one mask."""

    attention: Tensor  # (K, M, M) pre-softmax
    logits: Tensor  # (R, R) mask logits it blends to
    iou: float  # IoU of sigmoid(logits) >= 0.5 with the target mask
    loss: float  # final BCE


def mask_iou(logits: Tensor, target: Tensor) -> float:
    """IoU of ``logits >= 0`` (i.e. sigmoid >= 0.5) with ``target >= 0.5``, both (R, R); 1 if both empty."""
    predicted, truth = logits >= 0, target >= 0.5
    union = (predicted | truth).sum()
    return 1.0 if union == 0 else float((predicted & truth).sum() / union)


def target_in_box(mask: Tensor, box: Tensor, resolution: int) -> Tensor:
    """A full-image mask (H, W) cropped to box (4,) xyxy px and resized to (R, R) in 0..1, the
    way the training target is made (RoIAlign)."""
    return crop_in_box(mask.float()[None], box, resolution)[0]


def oracle_attention(
    rois: Tensor,
    gt_mask: Tensor,
    attn_size: int,
    *,
    steps: int = 300,
    lr: float = 0.1,
    top_interp: str = "bilinear",
    init: Tensor | None = None,
) -> OracleResult:
    """The attention (K, M, M) that best reconstructs ``gt_mask`` (R, R) from cropped bases
    ``rois`` (K, R, R), by Adam on BCE-with-logits through the blender's interpolation, softmax
    (sigmoid if K = 1) and weighted sum. ``init`` (K, M, M) defaults to zeros (uniform weights).
    """
    if rois.dim() != 3 or gt_mask.shape != rois.shape[1:]:
        raise ValueError(
            f"rois must be (K, R, R) and gt_mask (R, R); got {tuple(rois.shape)}, {tuple(gt_mask.shape)}"
        )
    rois = rois.detach().float()[None]
    target = gt_mask.detach().float()[None]
    start = torch.zeros(rois.shape[1], attn_size, attn_size) if init is None else init.detach().float()
    attention = start.clone()[None].requires_grad_(True)
    optimizer = torch.optim.Adam([attention], lr=lr)

    def blended() -> Tensor:
        weights = attention_weights(attention, resolution=rois.shape[-1], top_interp=top_interp)
        return merge(rois, weights)[1]

    with torch.enable_grad():
        for _ in range(steps):
            optimizer.zero_grad()
            loss = F.binary_cross_entropy_with_logits(blended(), target)
            loss.backward()
            optimizer.step()
    with torch.no_grad():
        logits = blended()[0]
        loss = F.binary_cross_entropy_with_logits(logits, target[0])
    return OracleResult(
        attention=attention.detach()[0], logits=logits, iou=mask_iou(logits, target[0]), loss=float(loss)
    )


@dataclass(frozen=True)
class AttentionProbe:
    """Predicted vs oracle attention for one detection."""

    target: Tensor  # (R, R) GT mask in the detection's box
    predicted_iou: float
    oracle: OracleResult


def probe_detection(
    prediction: Prediction, index: int, gt_mask: Tensor, *, steps: int = 300
) -> AttentionProbe:
    """Compare detection ``index``'s predicted attention with the oracle on its own cropped bases,
    against the full-image ground-truth mask ``gt_mask`` (H, W) cropped to the predicted box."""
    blend = blending_steps(prediction, index)
    attn_size = prediction.blend_args.attn_size if blend.attention is None else blend.attention.shape[-1]
    target = target_in_box(gt_mask, blend.box, blend.resolution)
    oracle = oracle_attention(
        blend.rois,
        target,
        attn_size,
        steps=steps,
        top_interp=prediction.blend_args.top_interp,
    )
    return AttentionProbe(target=target, predicted_iou=mask_iou(blend.logits, target), oracle=oracle)


@dataclass(frozen=True)
class ProbeRecord:
    """Mask IoU (in the detection's box, at R x R) for one ground-truth instance of one model."""

    method: str
    image: int  # dataset index
    instance: int  # ground-truth index in the image
    predicted_iou: float  # with the model's own attention (the fixed tiles for the assembler)
    oracle_iou: dict[int, float]  # best attention found on the model's bases, per attention size M


def summarize_probes(records: Iterable[ProbeRecord], *, common: bool = True) -> dict[str, dict[str, float]]:
    """Mean IoU per method: ``"predicted"`` and ``"M=<m>"`` for each oracle attention size, plus
    ``"n"`` instances. ``common`` keeps only instances that every method matched, so the methods are
    compared on the same masks."""
    records = list(records)
    keys: dict[str, set[tuple[int, int]]] = {}
    for record in records:
        keys.setdefault(record.method, set()).add((record.image, record.instance))
    shared = set.intersection(*keys.values()) if keys else set()
    summary: dict[str, dict[str, float]] = {}
    for method in keys:
        chosen = [
            r for r in records if r.method == method and (not common or (r.image, r.instance) in shared)
        ]
        if not chosen:
            summary[method] = {"n": 0}
            continue
        row: dict[str, float] = {
            "n": len(chosen),
            "predicted": statistics.fmean(r.predicted_iou for r in chosen),
        }
        for m in sorted({m for r in chosen for m in r.oracle_iou}):
            row[f"M={m}"] = statistics.fmean(r.oracle_iou[m] for r in chosen if m in r.oracle_iou)
        summary[method] = row
    return summary


def format_probe_summary(
    summary: Mapping[str, Mapping[str, float]], configs: Mapping[str, BlendMaskConfig]
) -> str:
    """Text table of ``summarize_probes``: instances, predicted IoU (own M) and oracle IoU per M."""
    sizes = sorted({int(k[2:]) for row in summary.values() for k in row if k.startswith("M=")})
    head = "".join(f"{'M=' + str(m):>8}" for m in sizes)
    lines = [f"{'model':13}{'n':>4}{'own M':>7}{'predicted':>11} | oracle{head}"]
    for method, row in summary.items():
        own = "tiles" if configs[method].method == "assembler" else str(configs[method].attn_size)
        predicted = f"{row['predicted']:>11.3f}" if row.get("n") else f"{'-':>11}"
        cells = "".join(f"{row[f'M={m}']:>8.3f}" if f"M={m}" in row else f"{'-':>8}" for m in sizes)
        lines.append(f"{method:13}{int(row.get('n', 0)):>4}{own:>7}{predicted} | {'':6}{cells}")
    return "\n".join(lines)


def probe_matched_instances(
    method: str,
    predictions: Sequence[Mapping],
    targets: Sequence[Mapping[str, Tensor]],
    sizes: Sequence[int],
    *,
    steps: int = 300,
    top_interp: str = "bilinear",
    iou_threshold: float = 0.5,
    score_threshold: float = 0.3,
) -> list[ProbeRecord]:
    """One ``ProbeRecord`` per ground-truth instance that a detection of model ``method`` finds
    (``match_to_ground_truth`` by box IoU): the IoU in the box of its predicted mask, and of the oracle
    attention on its cropped bases at every attention size M in ``sizes``. ``predictions``: one per
    image of ``targets``, with intermediates; ``top_interp``: the model's attention interpolation."""
    records = []
    for image, (prediction, target) in enumerate(zip(predictions, targets, strict=True)):
        pairs = match_to_ground_truth(
            prediction, target, iou_threshold=iou_threshold, score_threshold=score_threshold
        )
        for gt, det in pairs:
            blend = blending_steps(prediction, det)
            goal = target_in_box(target["masks"][gt], blend.box, blend.resolution)
            oracle = {
                m: oracle_attention(blend.rois, goal, m, steps=steps, top_interp=top_interp).iou
                for m in sizes
            }
            records.append(ProbeRecord(method, image, gt, mask_iou(blend.logits, goal), oracle))
    return records
