"""Compare this project's predictions with reference (official) outputs: matching and the numbers.

Reference detections are matched greedily (highest score first) to unmatched predictions of the
same class by box IoU; the report holds per-match box IoU, score difference and mask IoU.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from torchvision.ops import box_iou


@dataclass
class ParityReport:
    """Agreement of one image's predictions with its reference outputs."""

    num_reference: int
    num_predicted: int
    unmatched: int  # reference detections without a same-class prediction of IoU >= 0.5
    min_box_iou: float
    max_score_diff: float
    mean_mask_iou: float


def mask_iou(a: Tensor, b: Tensor) -> Tensor:
    """IoU of paired masks (D, H, W) bool -> (D,); two empty masks count as 1."""
    inter = (a & b).flatten(1).sum(1).float()
    union = (a | b).flatten(1).sum(1).float()
    return torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(union))


def compare_detections(pred: dict[str, Tensor], ref: dict[str, Tensor]) -> ParityReport:
    """``pred`` / ``ref`` with ``boxes`` (D, 4), ``scores`` (D,), ``labels`` (D,), ``masks`` (D, H, W)."""
    ious = box_iou(ref["boxes"].double(), pred["boxes"].double())  # (R, P)
    same = ref["labels"][:, None] == pred["labels"][None, :]
    ious = torch.where(same, ious, torch.full_like(ious, -1.0))
    taken = torch.zeros(len(pred["boxes"]), dtype=torch.bool)
    pairs = []
    for r in ref["scores"].argsort(descending=True).tolist():
        row = ious[r].masked_fill(taken, -1.0)
        if row.numel() == 0 or row.max() < 0.5:
            continue
        p = int(row.argmax())
        taken[p] = True
        pairs.append((r, p, float(row[p])))
    if not pairs:
        return ParityReport(len(ref["boxes"]), len(pred["boxes"]), len(ref["boxes"]), 0.0, float("inf"), 0.0)
    r_idx = torch.tensor([r for r, _, _ in pairs])
    p_idx = torch.tensor([p for _, p, _ in pairs])
    score_diff = (ref["scores"][r_idx].double() - pred["scores"][p_idx].double()).abs().max()
    m_iou = mask_iou(ref["masks"][r_idx].bool(), pred["masks"][p_idx].bool()).mean()
    return ParityReport(
        num_reference=len(ref["boxes"]),
        num_predicted=len(pred["boxes"]),
        unmatched=len(ref["boxes"]) - len(pairs),
        min_box_iou=min(iou for _, _, iou in pairs),
        max_score_diff=float(score_diff),
        mean_mask_iou=float(m_iou),
    )
