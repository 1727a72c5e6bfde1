"""The inference fast path: bfloat16 autocast of the feature networks and channels-last memory.

``precision="float32"`` is the reference; ``"bfloat16"`` forces autocast; ``"auto"`` uses it on
CUDA and on CPUs that compute bfloat16 natively (the same test as for training) and float32
elsewhere. Post-processing, blending and pasting always run in float32.
"""

from __future__ import annotations

import os
import time
from typing import Any

import torch
from torch import Tensor

from ..modeling.blendmask import BlendMask
from ..structures import Prediction
from .precision import cpu_has_fast_bf16

PRECISIONS = ("auto", "bfloat16", "float32")


def inference_dtype(precision: str, device: str | torch.device) -> torch.dtype | None:
    """The autocast dtype for ``precision`` on ``device``: bfloat16, or None for float32."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "float32":
        return None
    if precision == "bfloat16":
        return torch.bfloat16
    device = torch.device(device)
    native = torch.cuda.is_bf16_supported() if device.type == "cuda" else cpu_has_fast_bf16()
    return torch.bfloat16 if native else None


def prepare_for_inference(model: BlendMask, precision: str = "float32") -> BlendMask:
    """Set ``model``'s inference precision (see the module doc) and, for bfloat16, channels-last
    weights (faster convolutions on CPU and on tensor cores). Returns the model, in place."""
    device = next(model.parameters()).device
    model.inference_dtype = inference_dtype(precision, device)
    model.to(memory_format=torch.channels_last if model.inference_dtype else torch.contiguous_format)
    return model


def precision_name(model: BlendMask) -> str:
    """ "bfloat16" or "float32": the precision ``model`` predicts in."""
    return "float32" if model.inference_dtype is None else str(model.inference_dtype).removeprefix("torch.")


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
    from .evaluate import coco_evaluate, predictions_to_coco
    from .predict import Predictor

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
