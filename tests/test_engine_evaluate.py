"""COCO evaluation on hand-made cases with known AP."""

from __future__ import annotations

import json

import numpy as np
import pycocotools.mask as mask_util
import pytest
import torch
from pycocotools.coco import COCO

from blendmask.engine.evaluate import coco_evaluate, predictions_to_coco
from blendmask.structures import Prediction

SIZE = 100
# (category id, x0, y0, side): 40 px squares, area 1600 = COCO "medium"
OBJECTS = [(1, 10, 10, 40), (7, 50, 50, 40)]
LABEL_TO_CATEGORY_ID = [1, 7]


def _square_mask(x0: int, y0: int, side: int) -> np.ndarray:
    mask = np.zeros((SIZE, SIZE), dtype=np.uint8)
    mask[y0 : y0 + side, x0 : x0 + side] = 1
    return mask


def _ground_truth() -> COCO:
    annotations = []
    for ann_id, (cat, x0, y0, side) in enumerate(OBJECTS, start=1):
        rle = mask_util.encode(np.asfortranarray(_square_mask(x0, y0, side)))
        rle["counts"] = rle["counts"].decode("ascii")
        annotations.append(
            {
                "id": ann_id,
                "image_id": 0,
                "category_id": cat,
                "segmentation": rle,
                "area": float(side * side),
                "bbox": [x0, y0, side, side],
                "iscrowd": 0,
            }
        )
    coco = COCO()
    coco.dataset = {
        "images": [{"id": 0, "width": SIZE, "height": SIZE, "file_name": "a.png"}],
        "annotations": annotations,
        "categories": [{"id": 1, "name": "square"}, {"id": 7, "name": "block"}],
    }
    coco.createIndex()
    return coco


def _prediction(shift: int) -> Prediction:
    """The ground truth moved right by ``shift`` pixels, as a model prediction with labels 0..C-1."""
    boxes, masks = [], []
    for _, x0, y0, side in OBJECTS:
        boxes.append([x0 + shift, y0, x0 + shift + side, y0 + side])
        masks.append(_square_mask(x0 + shift, y0, side))
    return Prediction(
        boxes=torch.tensor(boxes, dtype=torch.float32),
        scores=torch.tensor([0.9, 0.8]),
        labels=torch.tensor([0, 1]),
        masks=torch.from_numpy(np.stack(masks)).bool(),
    )


def test_results_use_coco_category_ids_and_rle():
    results = predictions_to_coco(_prediction(0), 0, LABEL_TO_CATEGORY_ID)
    assert [r["category_id"] for r in results] == [1, 7]
    assert results[0]["bbox"] == [10.0, 10.0, 40.0, 40.0]
    json.dumps(results)  # counts are strings, the list is JSON-able
    decoded = mask_util.decode(results[1]["segmentation"])
    np.testing.assert_array_equal(decoded, _square_mask(50, 50, 40))


def test_perfect_predictions_give_ap_one():
    metrics = coco_evaluate(_ground_truth(), predictions_to_coco(_prediction(0), 0, LABEL_TO_CATEGORY_ID))
    for iou_type in ("segm", "bbox"):
        assert metrics[iou_type]["AP"] == pytest.approx(1.0)
        assert metrics[iou_type]["AP75"] == pytest.approx(1.0)
        assert metrics[iou_type]["APm"] == pytest.approx(1.0)
        assert metrics[iou_type]["APs"] is None  # no small objects: not measurable
    assert set(metrics["per_category"]) == {"square", "block"}
    for per_type in metrics["per_category"].values():
        assert per_type["segm"] == pytest.approx(1.0) and per_type["bbox"] == pytest.approx(1.0)


def test_shifted_predictions_give_the_known_lower_ap():
    # 8 px shift of a 40 px square: IoU = 32*40 / (2*1600 - 32*40) = 2/3, a match at the
    # thresholds 0.50, 0.55, 0.60, 0.65 only -> AP = 4/10, AP50 = 1, AP75 = 0.
    metrics = coco_evaluate(_ground_truth(), predictions_to_coco(_prediction(8), 0, LABEL_TO_CATEGORY_ID))
    for iou_type in ("segm", "bbox"):
        assert metrics[iou_type]["AP"] == pytest.approx(0.4)
        assert metrics[iou_type]["AP50"] == pytest.approx(1.0)
        assert metrics[iou_type]["AP75"] == pytest.approx(0.0)


def test_wrong_category_and_no_detections_give_zero():
    swapped = _prediction(0)
    swapped.labels = torch.tensor([1, 0])
    metrics = coco_evaluate(_ground_truth(), predictions_to_coco(swapped, 0, LABEL_TO_CATEGORY_ID))
    assert metrics["segm"]["AP"] == pytest.approx(0.0)
    empty = coco_evaluate(_ground_truth(), [])
    assert empty["segm"]["AP"] == 0.0 and empty["bbox"]["AP50"] == 0.0
    assert empty["per_category"]["block"]["segm"] == 0.0
