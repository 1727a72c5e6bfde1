"""Predictions against ground truth, instance by instance: mask IoU through pycocotools gives
matches with their IoU, misses and false positives; box-IoU matching for the probes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pycocotools.mask as mask_utils
import torch
from torch import Tensor
from torchvision.ops import box_iou

from ..structures import Prediction

MATCH, MISS, FALSE_POSITIVE = "match", "miss", "false positive"


class Pairing(NamedTuple):
    """One entry of ``match_instances``.

    ``kind`` "match": detection ``det`` of the right class paired with ground-truth instance ``gt``;
    "miss": instance ``gt`` left without one; "false positive": detection ``det`` left without one.
    For a miss, ``det`` is the detection overlapping it most (IoU >= the match threshold; another
    class, or one already paired), else None; for a false positive, ``gt`` is likewise the instance it
    overlaps most. ``iou``: mask IoU of ``gt`` and ``det`` (0 when one is None); ``other``: the label
    of that nearest instance for a miss / false positive (a class confusion when it differs).
    """

    kind: str
    gt: int | None
    det: int | None
    iou: float
    other: int | None


@dataclass(frozen=True)
class InstanceMatch:
    """One match, miss or false positive of an inspected image (see ``Pairing``), with class names."""

    index: int  # the image's position in the dataset
    image_id: int
    kind: str
    category: str  # the ground truth's class (match, miss) or the detection's (false positive)
    iou: float
    score: float | None  # score of detection ``det`` (None without one)
    gt: int | None  # index into the image's ground-truth instances
    det: int | None  # index into the image's detections (by score, high first)
    other: str | None = None  # class of the nearest instance of a miss / false positive


def mask_rles(masks: Tensor) -> list[dict]:
    """(N, H, W) bool masks -> N pycocotools RLEs."""
    if masks.shape[0] == 0:
        return []
    return mask_utils.encode(np.asfortranarray(masks.cpu().numpy().transpose(1, 2, 0).astype(np.uint8)))


def _iou(dets: list, gts: list, crowd: bool = False) -> np.ndarray:
    if not dets or not gts:
        return np.zeros((len(dets), len(gts)))
    return np.asarray(mask_utils.iou(dets, gts, [int(crowd)] * len(gts)), dtype=np.float64)


def match_instances(
    gt_rles: list,
    gt_labels: Sequence[int],
    det_rles: list,
    det_labels: Sequence[int],
    det_scores: Sequence[float],
    *,
    crowd_rles: Sequence = (),
    score_threshold: float = 0.5,
    match_threshold: float = 0.1,
) -> list[Pairing]:
    """Pair detections with ground-truth instances of the same class, COCO-style: detections scoring
    >= ``score_threshold`` in order of score each take the unpaired instance of their class with the
    highest mask IoU, if it is >= ``match_threshold``. A detection left over that covers a crowd region
    (intersection over its area >= ``match_threshold``) is ignored. Masks are pycocotools RLEs.

    Returns matches (by ground-truth index), then misses, then false positives (by score).
    """
    order = [
        int(d)
        for d in np.argsort(-np.asarray(det_scores, dtype=np.float64), kind="stable")
        if det_scores[d] >= score_threshold
    ]
    ious = _iou([det_rles[d] for d in order], list(gt_rles))  # (D', G)
    crowd = _iou([det_rles[d] for d in order], list(crowd_rles), crowd=True)
    taken: dict[int, int] = {}  # gt -> row of its detection
    unpaired: list[int] = []
    for row, d in enumerate(order):
        best, best_iou = None, match_threshold
        for g, label in enumerate(gt_labels):
            if label == det_labels[d] and g not in taken and ious[row, g] >= best_iou:
                best, best_iou = g, ious[row, g]
        if best is not None:
            taken[best] = row
        elif not (crowd.shape[1] and crowd[row].max() >= match_threshold):
            unpaired.append(row)
    out = [Pairing(MATCH, g, order[taken[g]], float(ious[taken[g], g]), None) for g in sorted(taken)]
    for g in range(len(gt_labels)):
        if g not in taken:
            row = int(ious[:, g].argmax()) if order else None
            if row is None or ious[row, g] < match_threshold:
                out.append(Pairing(MISS, g, None, 0.0 if row is None else float(ious[row, g]), None))
            else:
                d = order[row]
                out.append(Pairing(MISS, g, d, float(ious[row, g]), int(det_labels[d])))
    for row in unpaired:
        g = int(ious[row].argmax()) if len(gt_labels) else None
        if g is None or ious[row, g] < match_threshold:
            out.append(
                Pairing(FALSE_POSITIVE, None, order[row], 0.0 if g is None else float(ious[row, g]), None)
            )
        else:
            out.append(Pairing(FALSE_POSITIVE, g, order[row], float(ious[row, g]), int(gt_labels[g])))
    return out


def match_summary(
    matches: Sequence[InstanceMatch], categories: Sequence[str], *, iou_threshold: float = 0.5
) -> str:
    """Per-category counts at one score threshold as a text table: ground truth, detections, matches,
    good matches (mask IoU >= ``iou_threshold``), misses, false positives, mean IoU of the matches,
    and precision / recall counting only good matches."""
    header = (
        f"{'category':<14}{'GT':>5}{'dets':>6}{'match':>7}{'IoU≥' + format(iou_threshold, 'g'):>8}"
        f"{'miss':>6}{'FP':>5}{'mIoU':>7}{'prec':>7}{'recall':>8}"
    )
    lines = [header]
    for name in [*categories, "all"]:
        chosen = [m for m in matches if name == "all" or m.category == name]
        paired = [m for m in chosen if m.kind == MATCH]
        good = sum(m.iou >= iou_threshold for m in paired)
        misses = sum(m.kind == MISS for m in chosen)
        false = sum(m.kind == FALSE_POSITIVE for m in chosen)
        truths, dets = len(paired) + misses, len(paired) + false
        miou = f"{np.mean([m.iou for m in paired]):.2f}" if paired else "-"
        precision = f"{good / dets:.2f}" if dets else "-"
        recall = f"{good / truths:.2f}" if truths else "-"
        lines.append(
            f"{name:<14}{truths:>5}{dets:>6}{len(paired):>7}{good:>8}{misses:>6}{false:>5}"
            f"{miou:>7}{precision:>7}{recall:>8}"
        )
    return "\n".join(lines)


def match_to_ground_truth(
    prediction: Prediction,
    target: Mapping[str, torch.Tensor],
    *,
    iou_threshold: float = 0.5,
    score_threshold: float = 0.3,
) -> list[tuple[int, int]]:
    """Greedy COCO-style matching of detections to ground-truth instances by box IoU.

    Detections scoring ≥ ``score_threshold`` are taken best score first; each takes the still
    unmatched instance of highest box IoU ≥ ``iou_threshold`` (any class). Returns
    (instance index, detection index) pairs sorted by instance.
    """
    boxes, gt_boxes = prediction.boxes.float(), target["boxes"].float()
    if boxes.shape[0] == 0 or gt_boxes.shape[0] == 0:
        return []
    ious = box_iou(boxes, gt_boxes)  # (D, N)
    taken: set[int] = set()
    pairs = []
    for det in torch.argsort(prediction.scores, descending=True).tolist():
        if float(prediction.scores[det]) < score_threshold:
            break
        candidates = ious[det].clone()
        candidates[list(taken)] = -1.0
        best = int(candidates.argmax())
        if float(candidates[best]) >= iou_threshold:
            taken.add(best)
            pairs.append((best, det))
    return sorted(pairs)


def miss_reason(match: InstanceMatch) -> str:
    """Why a miss was missed: "not found" (no detection near it), "merged" (the nearest detection is of
    its class but already paired with a neighbour) or "confusion" (the nearest is of another class)."""
    if match.kind != MISS:
        raise ValueError(f"miss_reason needs a miss, got a {match.kind}")
    return (
        "not found" if match.other is None else ("merged" if match.other == match.category else "confusion")
    )


def false_positive_reason(match: InstanceMatch) -> str:
    """Why a false positive paired with nothing: "background" (no instance under it), "duplicate" (an
    instance of its class that another detection took) or "confusion" (an instance of another class)."""
    if match.kind != FALSE_POSITIVE:
        raise ValueError(f"false_positive_reason needs a false positive, got a {match.kind}")
    return (
        "background"
        if match.other is None
        else ("duplicate" if match.other == match.category else "confusion")
    )


def first_common_instance(
    predictions: Mapping[str, Sequence[Mapping[str, torch.Tensor]]],
    targets: Sequence[Mapping[str, torch.Tensor]],
    **match: float,
) -> tuple[int, int, dict[str, int]] | None:
    """The first ``(image, ground-truth instance, {model: detection})`` that every model detects.

    ``predictions``: per model, one prediction per image of ``targets``; an instance is detected when
    ``match_to_ground_truth(prediction, target, **match)`` pairs it. None when no instance is common.
    """
    for image, target in enumerate(targets):
        pairs = {
            name: dict(match_to_ground_truth(found[image], target, **match))
            for name, found in predictions.items()
        }
        for gt in range(len(target["labels"])):
            if all(gt in paired for paired in pairs.values()):
                return image, gt, {name: paired[gt] for name, paired in pairs.items()}
    return None


def best_correct_detections(
    predictions: Sequence[Mapping[str, torch.Tensor]],
    targets: Sequence[Mapping[str, torch.Tensor] | None],
) -> dict[int, tuple[float, int, int]]:
    """Per label, its most confident correct detection: ``{label: (score, image, detection)}``.

    A detection is correct when ``match_instances`` (any score) pairs it with a ground-truth instance
    of its class; for an image whose target is None (a photo) every detection is a candidate.
    """
    best: dict[int, tuple[float, int, int]] = {}
    for image, (prediction, target) in enumerate(zip(predictions, targets, strict=True)):
        scores, labels = prediction["scores"].tolist(), prediction["labels"].tolist()
        if target is None:
            candidates: Sequence[int] = range(len(scores))
        else:
            pairs = match_instances(
                mask_rles(target["masks"]),
                target["labels"].tolist(),
                mask_rles(prediction["masks"]),
                labels,
                scores,
                score_threshold=0.0,
            )
            candidates = [pair.det for pair in pairs if pair.kind == MATCH]
        for det in candidates:
            if labels[det] not in best or scores[det] > best[labels[det]][0]:
                best[labels[det]] = (float(scores[det]), image, det)
    return best
