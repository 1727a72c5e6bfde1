"""The measures the notebooks call: why an instance was missed or a detection is a false positive,
the first instance every model detects, each class' best correct detection, images ranked by
confidence, the score-threshold sweep, probes over matched instances, Table 1's AP table and the
per-category AP table."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from fakes import make_prediction

from blendmask.analysis import (
    FALSE_POSITIVE,
    MATCH,
    MISS,
    InstanceMatch,
    best_correct_detections,
    blending_steps,
    false_positive_reason,
    first_common_instance,
    mask_iou,
    miss_reason,
    probe_matched_instances,
    rank_by_confidence,
    target_in_box,
    threshold_sweep,
)
from blendmask.analysis.merge_comparison import VariantRun, ap_table
from blendmask.engine import format_per_category
from blendmask.structures import Prediction

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _match(kind: str, category: str = "cat", other: str | None = None) -> InstanceMatch:
    return InstanceMatch(
        index=0, image_id=1, kind=kind, category=category, iou=0.3, score=0.9, gt=0, det=0, other=other
    )


def test_reasons_of_misses_and_false_positives():
    assert miss_reason(_match(MISS)) == "not found"
    assert miss_reason(_match(MISS, other="cat")) == "merged"
    assert miss_reason(_match(MISS, other="dog")) == "confusion"
    assert false_positive_reason(_match(FALSE_POSITIVE)) == "background"
    assert false_positive_reason(_match(FALSE_POSITIVE, other="cat")) == "duplicate"
    assert false_positive_reason(_match(FALSE_POSITIVE, other="dog")) == "confusion"
    with pytest.raises(ValueError, match="miss"):
        miss_reason(_match(MATCH))
    with pytest.raises(ValueError, match="false positive"):
        false_positive_reason(_match(MISS))


def _target(prediction: dict, keep: list[int]) -> dict:
    """Ground truth made of some of a prediction's own detections."""
    return {key: prediction[key][keep] for key in ("boxes", "labels", "masks")}


def _empty_like(prediction: Prediction) -> Prediction:
    return prediction.select(slice(0, 0))


def test_first_common_instance_is_the_first_every_model_detects():
    image0, image1 = make_prediction(seed=0), make_prediction(seed=1)
    targets = [_target(image0, [0, 1]), _target(image1, [2, 0])]
    # model "a" finds everything; model "b" nothing in image 0 and only detection 0 in image 1
    only_first = image1.select(slice(0, 1))
    predictions = {"a": [image0, image1], "b": [_empty_like(image0), only_first]}
    image, gt, detections = first_common_instance(
        predictions, targets, iou_threshold=0.9, score_threshold=0.0
    )
    assert (image, gt) == (1, 1), "instance 1 of image 1 is image1's detection 0"
    assert detections == {"a": 0, "b": 0}
    assert first_common_instance({"b": predictions["b"][:1]}, targets[:1], iou_threshold=0.9) is None


def test_best_correct_detection_per_class_needs_a_matching_instance():
    prediction = make_prediction(num_dets=4)  # labels 0, 1, 2, 0; scores falling
    prediction["masks"][0] = False  # the most confident detection covers nothing
    found = best_correct_detections([prediction], [_target(prediction, [1, 3])])
    assert set(found) == {0, 1}, "detections 0 and 2 pair with no instance of their class"
    assert found[0] == (pytest.approx(float(prediction["scores"][3])), 0, 3)
    assert found[1][1:] == (0, 1)
    photo = best_correct_detections([prediction], [None])  # no ground truth: every detection counts
    assert {label: value[2] for label, value in photo.items()} == {0: 0, 1: 1, 2: 2}, "the best score wins"


def test_images_rank_by_their_best_scores():
    low = dataclasses.replace(make_prediction(seed=0), scores=torch.tensor([0.4, 0.3, 0.2]))
    high = dataclasses.replace(make_prediction(seed=1), scores=torch.tensor([0.1, 0.9, 0.8]))
    assert rank_by_confidence([low, _empty_like(low), high]) == [2, 0, 1]
    assert rank_by_confidence([low, high], top=1) == [1, 0]


class _Inspection:
    categories = ["cat"]

    def __init__(self, matches):
        self._matches = matches

    def matches(self, *, score_threshold, match_threshold):
        return [m for m in self._matches if m.score is None or m.score >= score_threshold]


def test_threshold_sweep_has_one_row_per_threshold():
    matches = [
        InstanceMatch(0, 1, MATCH, "cat", 0.8, 0.9, 0, 0),
        InstanceMatch(0, 1, MATCH, "cat", 0.8, 0.4, 1, 1),
        InstanceMatch(0, 1, FALSE_POSITIVE, "cat", 0.0, 0.35, None, 2),
    ]
    lines = threshold_sweep(_Inspection(matches), (0.3, 0.5)).splitlines()
    assert lines[0].startswith("score ≥") and len(lines) == 3
    loose, strict = (line.split() for line in lines[1:])
    assert loose[:4] == ["0.3", "2", "3", "2"], "2 objects, 3 detections, 2 matches"
    assert strict[:4] == ["0.5", "1", "1", "1"]


def test_probes_cover_every_matched_instance_at_every_size():
    prediction = make_prediction(resolution=8, attn_size=4)
    target = _target(prediction, [0, 2])
    records = probe_matched_instances(
        "blender", [prediction], [target], (1, 4), steps=20, score_threshold=0.0
    )
    assert [(r.method, r.image, r.instance) for r in records] == [("blender", 0, 0), ("blender", 0, 1)]
    assert all(set(r.oracle_iou) == {1, 4} for r in records)
    steps = blending_steps(prediction, 0)
    goal = target_in_box(target["masks"][0], steps.box, steps.resolution)
    assert records[0].predicted_iou == mask_iou(steps.logits, goal)
    assert probe_matched_instances("blender", [prediction], [target], (1,), score_threshold=0.99) == []


def _run(method: str, seed: int, ap: float, box_ap: float) -> VariantRun:
    metrics = {"segm": {"AP": ap, "AP50": ap + 0.1}, "bbox": {"AP": box_ap}}
    return VariantRun(
        method=method, seed=seed, cfg=None, checkpoint=None, metrics=metrics, train_seconds=0.0, reused=False
    )


def test_ap_table_averages_seeds_per_method_in_percent():
    runs = [_run("blender", 0, 0.30, 0.2), _run("weighted_sum", 0, 0.10, 0.1), _run("blender", 1, 0.40, 0.4)]
    table = ap_table(runs)
    assert list(table) == ["blender", "weighted_sum"]
    assert table["blender"] == pytest.approx({"mask AP": 35.0, "mask AP50": 45.0, "box AP": 30.0})
    assert table["weighted_sum"]["mask AP"] == pytest.approx(10.0)


def test_per_category_table_shows_missing_values_as_a_dash():
    text = format_per_category(
        {"per_category": {"cat": {"segm": 0.5, "bbox": None}, "dog": {"segm": 0.125, "bbox": 0.25}}}
    )
    header, cat, dog = text.splitlines()
    assert header.split() == ["category", "mask", "AP", "box", "AP"]
    assert cat.split() == ["cat", "50.0", "-"] and dog.split() == ["dog", "12.5", "25.0"]
