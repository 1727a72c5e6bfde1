"""Inspection of a predictor on a dataset: matches, metrics and image pairs."""

from __future__ import annotations

import pytest
import torch

from blendmask.analysis import inspect_predictions, matching
from blendmask.data import make_synthetic_coco
from blendmask.engine import coco_eval_set
from blendmask.structures import Prediction


class _PerfectPredictor:
    """Predicts each image's ground truth (score 0.9), found by matching the image."""

    def __init__(self, dataset):
        self.truth = [dataset[i] for i in range(len(dataset))]

    def predict(self, image):
        for candidate, target in self.truth:
            if torch.equal(candidate, image):
                n = len(target["labels"])
                return Prediction(
                    boxes=target["boxes"],
                    labels=target["labels"],
                    masks=target["masks"],
                    scores=torch.full((n,), 0.9),
                )
        raise AssertionError("unknown image")


def test_inspection_of_perfect_predictions(tmp_path):
    data = make_synthetic_coco(tmp_path, num_train=0, num_val=3, num_classes=2)
    dataset = coco_eval_set(data.val_images, data.val_ann)
    inspection = inspect_predictions(_PerfectPredictor(dataset), dataset, progress=False)
    matches = inspection.matches(score_threshold=0.5)
    instances = sum(len(item.gt_labels) for item in inspection.images)
    assert len(matches) == instances and all(m.kind == "match" and m.iou == 1.0 for m in matches)
    assert inspection.matches(score_threshold=0.95)[0].kind == "miss"
    metrics = inspection.metrics()
    assert metrics["segm"]["AP"] == pytest.approx(1.0) and metrics["bbox"]["AP"] == pytest.approx(1.0)
    image, gt, det = inspection.pair(matches[0], min_size=300)
    assert image.shape[0] == 3 and gt["masks"].shape[1:] == image.shape[1:] == det["masks"].shape[1:]
    assert max(image.shape[1:]) >= 300 and gt["masks"].any()
    assert torch.equal(gt["masks"], det["masks"]) and det["scores"].tolist() == pytest.approx([0.9])
    prediction = inspection.prediction(0)
    assert prediction["masks"].shape[1:] == inspection.image(0)[0].shape[1:]
    table = matching.match_summary(matches, inspection.categories).splitlines()
    assert table[-1].split()[:2] == ["all", str(instances)] and len(table) == 2 + len(inspection.categories)
