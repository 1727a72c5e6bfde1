"""COCO evaluation (pycocotools COCOeval, ``segm`` and ``bbox``) of a model on a COCO-format dataset.

Metrics are fractions in 0..1; a metric COCOeval cannot measure (e.g. APs without small objects)
is None. The returned dict, also written as JSON:

    {"segm": {"AP", "AP50", "AP75", "APs", "APm", "APl"}, "bbox": {...},
     "per_category": {name: {"segm": AP, "bbox": AP}}, "num_images": int, "num_detections": int}
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pycocotools.mask as mask_util
import torch
import torch.distributed as dist
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
from torch import nn
from tqdm.auto import tqdm

from ..errors import ImageReadError, UsageError
from ..structures import Prediction
from . import distributed as du

IOU_TYPES = ("segm", "bbox")
STAT_NAMES = ("AP", "AP50", "AP75", "APs", "APm", "APl")  # COCOeval.stats[0:6]


def predictions_to_coco(
    prediction: Prediction,
    image_id: int,
    label_to_category_id: Sequence[int] | Mapping[int, int],
) -> list[dict[str, Any]]:
    """One image's :class:`Prediction` (boxes, scores, labels, masks) -> COCO results entries with
    ``bbox`` (xywh), ``segmentation`` (compressed RLE, counts as str), ``score`` and the COCO
    ``category_id``."""
    prediction = prediction.cpu()
    boxes = prediction.boxes.double()
    if boxes.shape[0] == 0:
        return []
    scores = prediction.scores.tolist()
    labels = prediction.labels.tolist()
    masks = prediction.masks.numpy().astype(np.uint8)
    rles = mask_util.encode(np.asfortranarray(masks.transpose(1, 2, 0)))
    xywh = torch.cat([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], dim=1).tolist()
    results = []
    for box, score, label, rle in zip(xywh, scores, labels, rles, strict=True):
        rle["counts"] = rle["counts"].decode("ascii")
        results.append(
            {
                "image_id": int(image_id),
                "category_id": int(label_to_category_id[label]),
                "bbox": [round(v, 3) for v in box],
                "score": float(score),
                "segmentation": rle,
            }
        )
    return results


def coco_evaluate(
    coco_gt: COCO,
    results: list[dict[str, Any]],
    *,
    image_ids: Sequence[int] | None = None,
    verbose: bool = False,
) -> dict[str, Any]:
    """COCOeval of COCO results entries against ``coco_gt`` for ``segm`` and ``bbox``.

    ``image_ids`` restricts the evaluation (default: every image of ``coco_gt``). With no results at
    all every AP is 0. ``verbose`` prints COCOeval's summary tables.
    """
    image_ids = sorted(coco_gt.getImgIds() if image_ids is None else image_ids)
    names = {cat["id"]: cat["name"] for cat in coco_gt.loadCats(coco_gt.getCatIds())}
    metrics: dict[str, Any] = {"per_category": {name: {} for name in names.values()}}
    for iou_type in IOU_TYPES:
        if not results:
            metrics[iou_type] = dict.fromkeys(STAT_NAMES, 0.0)
            for name in names.values():
                metrics["per_category"][name][iou_type] = 0.0
            continue
        entries = copy.deepcopy(results)
        if iou_type == "segm":  # loadRes would take areas from the boxes if they stayed
            for entry in entries:
                entry.pop("bbox", None)
        output = io.StringIO()
        with contextlib.redirect_stdout(output):
            coco_dt = coco_gt.loadRes(entries)
            evaluator = COCOeval(coco_gt, coco_dt, iouType=iou_type)
            evaluator.params.imgIds = image_ids
            evaluator.evaluate()
            evaluator.accumulate()
            evaluator.summarize()
        if verbose:
            print(f"COCOeval {iou_type}:\n{output.getvalue()}")
        metrics[iou_type] = {
            name: (float(value) if value >= 0 else None)
            for name, value in zip(STAT_NAMES, evaluator.stats[:6], strict=True)
        }
        precision = evaluator.eval["precision"]  # (T, R, K, A, M); area "all", maxDets 100
        for k, cat_id in enumerate(evaluator.params.catIds):
            values = precision[:, :, k, 0, -1]
            values = values[values > -1]
            metrics["per_category"][names[cat_id]][iou_type] = float(values.mean()) if values.size else None
    return metrics


@torch.no_grad()
def evaluate(
    model: nn.Module,
    dataset,
    *,
    device: str | torch.device | None = None,
    batch_size: int = 8,
    out_dir: str | Path | None = None,
    metrics_file: str | Path | None = None,
    progress: bool = True,
    verbose: bool = False,
    strict: bool = False,
) -> dict[str, Any]:
    """Run ``model`` (eval mode, intermediates off) over a ``CocoInstances``-like dataset and COCOeval it.

    An item that raises :class:`ImageReadError` is left out together with its ground truth and listed
    in ``metrics["skipped"]`` (``{"image_id", "path", "reason"}``); COCOeval then covers only the
    evaluated images (``metrics["num_images"]``). ``strict`` raises on the first such image instead;
    when no image can be read a UsageError is raised.

    ``dataset`` items are ``(image (3,H,W) float 0..1, target with image_id)``; it provides ``.coco``
    and ``.label_to_category_id``. Images go through the model ``batch_size`` at a time (on CPU a
    batch is several times faster per image than single images). Under torchrun each rank predicts
    every world-size-th image, rank 0 gathers the results and runs COCOeval once, and every rank
    returns its metrics; only rank 0 writes files. With ``out_dir``, writes
    ``coco_results.json`` (COCO category ids, RLE masks) and ``metrics.json`` there;
    ``metrics_file`` overrides the metrics path.
    """
    model = model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model
    device = torch.device(device) if device is not None else next(model.parameters()).device
    was_training, keep_intermediates = model.training, model.return_intermediates
    model.eval()
    model.return_intermediates = False
    results: list[dict[str, Any]] = []
    image_ids: list[int] = []
    skipped: list[dict[str, Any]] = []
    shard = range(du.get_rank(), len(dataset), du.get_world_size())  # every image when not distributed
    try:
        with tqdm(total=len(shard), desc="evaluate", disable=not progress, leave=False) as bar:
            for start in range(0, len(shard), batch_size):
                items = []
                for index in shard[start : start + batch_size]:
                    try:
                        items.append(dataset[index])
                    except ImageReadError as error:
                        if strict:
                            raise
                        image_id = dataset.image_ids[index] if hasattr(dataset, "image_ids") else index
                        skipped.append({"image_id": image_id, "path": error.path, "reason": error.reason})
                if not items:
                    bar.update(min(batch_size, len(shard) - start))
                    continue
                predictions = model([image.to(device) for image, _ in items])
                for (_, target), prediction in zip(items, predictions, strict=True):
                    image_id = int(target["image_id"])
                    results.extend(predictions_to_coco(prediction, image_id, dataset.label_to_category_id))
                    image_ids.append(image_id)
                bar.update(min(batch_size, len(shard) - start))
    finally:
        model.train(was_training)
        model.return_intermediates = keep_intermediates
    if du.is_distributed():
        results, image_ids, skipped = _gather_on_main(results, image_ids, skipped)
        if not du.is_main_process():
            return _broadcast_from_main(None)
    if not image_ids:
        example = f", e.g. {skipped[0]['path']}: {skipped[0]['reason']}" if skipped else ""
        raise UsageError(f"no image to evaluate: {len(dataset)} in the dataset, none readable{example}")
    metrics = coco_evaluate(dataset.coco, results, image_ids=image_ids, verbose=verbose)
    metrics["num_images"] = len(image_ids)
    metrics["num_detections"] = len(results)
    metrics["skipped"] = skipped
    if du.is_distributed():
        _broadcast_from_main(metrics)
    if out_dir is not None:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "coco_results.json").write_text(json.dumps(results))
        metrics_file = metrics_file or out_dir / "metrics.json"
    if metrics_file is not None:
        Path(metrics_file).parent.mkdir(parents=True, exist_ok=True)
        Path(metrics_file).write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics


def _gather_on_main(
    results: list[dict[str, Any]], image_ids: list[int], skipped: list[dict[str, Any]]
) -> tuple[list, list[int], list[dict[str, Any]]]:
    """Every rank's COCO results, image ids and skipped images, concatenated on rank 0 (empty elsewhere)."""
    gathered = [None] * du.get_world_size() if du.is_main_process() else None
    dist.gather_object((results, image_ids, skipped), gathered, dst=0)
    if not du.is_main_process():
        return [], [], []
    return tuple([item for part in gathered for item in part[k]] for k in range(3))


def _broadcast_from_main(metrics: dict[str, Any] | None) -> dict[str, Any]:
    """Rank 0's metrics on every rank."""
    box = [metrics]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def format_metrics(metrics: dict[str, Any]) -> str:
    """A small text table of the COCO metrics (AP values in percent)."""

    def cell(value: float | None) -> str:
        return "   -" if value is None else f"{100 * value:5.1f}"

    lines = [f"{'':6}" + "".join(f"{name:>7}" for name in STAT_NAMES)]
    for iou_type in IOU_TYPES:
        lines.append(f"{iou_type:6}" + "".join(f"{cell(metrics[iou_type][name]):>7}" for name in STAT_NAMES))
    return "\n".join(lines)


def format_per_category(metrics: dict[str, Any]) -> str:
    """A text table of ``metrics["per_category"]``: mask and box AP (percent) of every category."""
    lines = [f"{'category':12} {'mask AP':>8} {'box AP':>8}"]
    for name, values in metrics["per_category"].items():
        cells = ["   -" if values.get(kind) is None else f"{100 * values[kind]:8.1f}" for kind in IOU_TYPES]
        lines.append(f"{name:12} {cells[0]:>8} {cells[1]:>8}")
    return "\n".join(lines)
