"""A model's detections on an evaluation set kept for instance-level inspection (matches, misses,
false positives, crops of each pair) and COCOeval of the same detections."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pycocotools.mask as mask_utils
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from ..data import CocoInstances
from ..engine.evaluate import coco_evaluate, predictions_to_coco
from ..engine.predict import Predictor, predict_image
from ..structures import Prediction
from .matching import FALSE_POSITIVE, InstanceMatch, mask_rles, match_instances, match_summary


@dataclass(frozen=True)
class ImagePredictions:
    """One image's ground truth and detections, masks as pycocotools RLEs."""

    index: int
    image_id: int
    image_size: tuple[int, int]
    gt_boxes: Tensor  # (N, 4) xyxy px
    gt_labels: tuple[int, ...]
    gt_rles: list
    crowd_rles: list
    boxes: Tensor  # (D, 4) xyxy px, detections by score, high first
    scores: tuple[float, ...]
    labels: tuple[int, ...]
    rles: list


@dataclass
class Inspection:
    """Detections of a model on a dataset, kept for instance-level inspection and COCOeval."""

    dataset: CocoInstances
    categories: list[str]
    images: list[ImagePredictions]
    results: list[dict]  # COCO results entries of every detection

    def matches(self, *, score_threshold: float = 0.5, match_threshold: float = 0.1) -> list[InstanceMatch]:
        """Every match, miss and false positive of every image (see ``match_instances``)."""
        found = []
        for item in self.images:
            pairings = match_instances(
                item.gt_rles,
                item.gt_labels,
                item.rles,
                item.labels,
                item.scores,
                crowd_rles=item.crowd_rles,
                score_threshold=score_threshold,
                match_threshold=match_threshold,
            )
            for p in pairings:
                label = item.labels[p.det] if p.kind == FALSE_POSITIVE else item.gt_labels[p.gt]
                found.append(
                    InstanceMatch(
                        index=item.index,
                        image_id=item.image_id,
                        kind=p.kind,
                        category=self.categories[label],
                        iou=p.iou,
                        score=None if p.det is None else item.scores[p.det],
                        gt=p.gt,
                        det=p.det,
                        other=None if p.other is None else self.categories[p.other],
                    )
                )
        return found

    def metrics(self) -> dict[str, Any]:
        """COCOeval (segm and bbox, per category) of the inspected detections."""
        return coco_evaluate(
            self.dataset.coco, self.results, image_ids=[item.image_id for item in self.images]
        )

    def image(self, position: int) -> tuple[Tensor, dict]:
        """Image ``(3, H, W)`` and ground-truth target of the ``position``-th inspected image."""
        return self.dataset[self.images[position].index]

    def prediction(self, position: int) -> Prediction:
        """The ``position``-th inspected image's detections (boxes, scores, labels, masks), by score."""
        item = self.images[position]
        return Prediction(
            boxes=item.boxes,
            scores=torch.tensor(item.scores),
            labels=torch.tensor(item.labels),
            masks=_decode(item.rles, item.image_size),
        )

    def pair(
        self, match: InstanceMatch, *, margin: float = 0.5, min_size: int = 0
    ) -> tuple[Tensor, dict, Prediction]:
        """``(image crop, ground truth, detection)`` of one match / miss / false positive: the crop is
        the union of the two boxes grown by ``margin`` of its size, enlarged by a whole factor until its
        longer side is at least ``min_size`` px (nearest-neighbour masks). The target dict and the
        Prediction hold 0 or 1 instance each."""
        item = next(item for item in self.images if item.index == match.index)
        image, _ = self.dataset[match.index]
        gt = _one(item.gt_boxes, item.gt_labels, item.gt_rles, None, match.gt, item.image_size)
        det = _one(item.boxes, item.labels, item.rles, item.scores, match.det, item.image_size)
        boxes = torch.cat([gt["boxes"], det["boxes"]])
        x0, y0 = boxes[:, :2].min(0).values.tolist()
        x1, y1 = boxes[:, 2:].max(0).values.tolist()
        pad_x, pad_y = margin * (x1 - x0) + 2, margin * (y1 - y0) + 2
        height, width = item.image_size
        left, top = max(0, int(x0 - pad_x)), max(0, int(y0 - pad_y))
        right, bottom = min(width, math.ceil(x1 + pad_x)), min(height, math.ceil(y1 + pad_y))
        crop = image[:, top:bottom, left:right]
        factor = max(1, math.ceil(min_size / max(crop.shape[1:])))
        if factor > 1:
            crop = F.interpolate(crop[None], scale_factor=factor, mode="bilinear", align_corners=False)[0]
        for part in (gt, det):
            masks = part["masks"][:, top:bottom, left:right]
            part["masks"] = masks.repeat_interleave(factor, 1).repeat_interleave(factor, 2)
            part["boxes"] = (
                part["boxes"] - torch.tensor([left, top, left, top], dtype=torch.float32)
            ) * factor
        return crop.clamp(0, 1), gt, Prediction(**det)


def _decode(rles: list, image_size: tuple[int, int]) -> Tensor:
    if not rles:
        return torch.zeros((0, *image_size), dtype=torch.bool)
    return torch.from_numpy(mask_utils.decode(rles).transpose(2, 0, 1).astype(bool))


def _one(boxes: Tensor, labels, rles: list, scores, index: int | None, image_size) -> dict:
    picked = [] if index is None else [index]
    out = {
        "boxes": boxes[picked].float().reshape(-1, 4),
        "labels": torch.tensor([labels[i] for i in picked], dtype=torch.int64),
        "masks": _decode([rles[i] for i in picked], image_size),
    }
    if scores is not None:
        out["scores"] = torch.tensor([scores[i] for i in picked], dtype=torch.float32)
    return out


def inspect_predictions(
    source: Predictor | nn.Module,
    dataset: CocoInstances,
    *,
    max_images: int | None = None,
    progress: bool = True,
) -> Inspection:
    """Run a Predictor (or a BlendMask model) over the first ``max_images`` images of an evaluation
    ``CocoInstances`` (original sizes) and keep ground truth and detections as RLEs."""
    categories = list(dataset.categories)
    label_of = {cid: label for label, cid in enumerate(dataset.label_to_category_id)}
    count = len(dataset) if max_images is None else min(max_images, len(dataset))
    images, results = [], []
    for index in tqdm(range(count), desc="predict", disable=not progress, leave=False):
        image, target = dataset[index]
        image_id = int(target["image_id"])
        prediction = predict_image(source, image)
        prediction = prediction.select(prediction.scores.argsort(descending=True, stable=True))
        entries = predictions_to_coco(prediction, image_id, dataset.label_to_category_id)
        results.extend(entries)
        crowd = [
            dataset.coco.annToRLE(ann) for ann in dataset.coco.imgToAnns[image_id] if ann.get("iscrowd", 0)
        ]
        images.append(
            ImagePredictions(
                index=index,
                image_id=image_id,
                image_size=tuple(int(v) for v in image.shape[-2:]),
                gt_boxes=target["boxes"].float(),
                gt_labels=tuple(int(v) for v in target["labels"]),
                gt_rles=mask_rles(target["masks"]),
                crowd_rles=crowd,
                boxes=prediction.boxes.float(),
                scores=tuple(entry["score"] for entry in entries),
                labels=tuple(label_of[entry["category_id"]] for entry in entries),
                rles=[entry["segmentation"] for entry in entries],
            )
        )
    return Inspection(dataset=dataset, categories=categories, images=images, results=results)


def rank_by_confidence(predictions: Sequence[Mapping[str, Tensor]], *, top: int = 3) -> list[int]:
    """Image indices ordered by the mean score of each image's ``top`` best detections, highest first
    (an image without detections counts 0); ties keep the images' order."""

    def confidence(prediction: Mapping[str, Tensor]) -> float:
        scores = prediction["scores"].sort(descending=True).values[:top]
        return float(scores.mean()) if len(scores) else 0.0

    return sorted(range(len(predictions)), key=lambda index: -confidence(predictions[index]))


def threshold_sweep(
    inspection: Inspection, thresholds: Sequence[float], *, match_threshold: float = 0.1
) -> str:
    """``match_summary``'s "all" row at every score threshold, as a text table with one row per
    threshold: a higher threshold trades false positives for misses."""
    header = match_summary([], inspection.categories).splitlines()[0]
    lines = ["score ≥".ljust(14) + header[14:]]
    for threshold in thresholds:
        found = inspection.matches(score_threshold=threshold, match_threshold=match_threshold)
        lines.append(f"{threshold:<14}" + match_summary(found, inspection.categories).splitlines()[-1][14:])
    return "\n".join(lines)
