"""The accuracy cost of the inference fast path: the same checkpoint predicting in float32 (the
reference) and in bfloat16, compared by COCO AP and by mask IoU detection by detection."""

from __future__ import annotations

import os
import time
from typing import Any

import torch
from torch import Tensor

from ..engine.evaluate import coco_evaluate, predictions_to_coco
from ..engine.inference import precision_name
from ..engine.predict import Predictor
from ..structures import Prediction


def mask_agreement(reference: Prediction, other: Prediction, score_threshold: float = 0.5) -> Tensor:
    """Per reference detection scoring >= ``score_threshold``: the best mask IoU with a detection
    of the same label in ``other`` (0 when there is none) -> (D,) float.

    ``reference`` / ``other``: predictions for the same image.
    """
    kept = reference.above(score_threshold)
    ref_masks, ref_labels = kept.masks.flatten(1).float(), kept.labels
    masks, labels = other.masks.flatten(1).float(), other.labels
    if len(ref_labels) == 0:
        return ref_masks.new_zeros(0)
    if len(labels) == 0:
        return ref_masks.new_zeros(len(ref_labels))
    inter = ref_masks @ masks.t()  # (D_ref, D_other)
    union = ref_masks.sum(1, keepdim=True) + masks.sum(1)[None] - inter
    iou = torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(inter))
    iou = torch.where(ref_labels[:, None] == labels[None], iou, torch.zeros_like(iou))
    return iou.amax(dim=1)


@torch.no_grad()
def precision_cost(
    checkpoint: str | os.PathLike, dataset, *, precision: str = "bfloat16", device: str = "cpu"
) -> dict[str, Any]:
    """The accuracy cost of ``precision`` against float32 for a checkpoint on a COCO-format dataset.

    Both paths predict every image; returns COCO mask and box AP of each, the model seconds of each,
    and the mean (over float32 detections scoring >= 0.5) of :func:`mask_agreement`.
    """
    paths = {
        "float32": Predictor(checkpoint, device, "float32"),
        precision: Predictor(checkpoint, device, precision),
    }
    results: dict[str, list] = {name: [] for name in paths}
    seconds = dict.fromkeys(paths, 0.0)
    ious, image_ids = [], []
    for index in range(len(dataset)):  # datasets wrap around on indexing, so no plain iteration
        image, target = dataset[index]
        image_id = int(target["image_id"])
        image_ids.append(image_id)
        predictions = {}
        for name, predictor in paths.items():
            start = time.perf_counter()
            predictions[name] = predictor.predict(image)
            seconds[name] += time.perf_counter() - start
            results[name] += predictions_to_coco(predictions[name], image_id, dataset.label_to_category_id)
        ious.append(mask_agreement(predictions["float32"], predictions[precision]))
    out: dict[str, Any] = {"num_images": len(image_ids)}
    for name in paths:
        metrics = coco_evaluate(dataset.coco, results[name], image_ids=image_ids)
        out[name] = {
            "mask_AP": metrics["segm"]["AP"],
            "box_AP": metrics["bbox"]["AP"],
            "model_s": round(seconds[name], 3),
            "precision": precision_name(paths[name].model),
        }
    ious = torch.cat(ious)
    out["mean_mask_iou"] = float(ious.mean()) if len(ious) else None
    out["compared_detections"] = len(ious)
    return out
