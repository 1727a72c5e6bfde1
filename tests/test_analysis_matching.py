"""Instance matching of predictions to ground truth: mask pairings and greedy box matching."""

from __future__ import annotations

import pytest
import torch

from blendmask.analysis import matching
from blendmask.structures import Prediction


def _rle(x0, y0, x1, y1, size=20):
    mask = torch.zeros(1, size, size, dtype=torch.bool)
    mask[0, y0:y1, x0:x1] = True
    return matching.mask_rles(mask)[0]


def test_match_instances_pairs_by_class_and_reports_misses_and_false_positives():
    gts = [_rle(0, 0, 8, 8), _rle(10, 10, 18, 18)]
    dets = [_rle(0, 0, 8, 8), _rle(10, 10, 18, 16), _rle(0, 0, 8, 6), _rle(1, 12, 7, 19)]
    crowd = [_rle(0, 10, 9, 20)]
    found = matching.match_instances(
        gts, [0, 1], dets, [0, 0, 0, 1], [0.9, 0.8, 0.2, 0.7], crowd_rles=crowd, score_threshold=0.5
    )
    # det 0 matches gt 0; det 1 has the wrong class: a false positive over gt 1, which is missed and
    # names det 1 as its nearest detection; det 2 scores below the threshold; det 3 lies in the crowd
    assert [(p.kind, p.gt, p.det, p.other) for p in found] == [
        ("match", 0, 0, None),
        ("miss", 1, 1, 0),
        ("false positive", 1, 1, 1),
    ]
    assert [p.iou for p in found] == pytest.approx([1.0, 48 / 64, 48 / 64])
    everything = matching.match_instances(
        gts, [0, 1], dets[:3], [0, 0, 0], [0.9, 0.8, 0.2], score_threshold=0.0
    )
    assert [p.kind for p in everything].count("false positive") == 2  # det 2: gt 0 is already taken
    alone = matching.match_instances([], [], dets[:1], [0], [0.9])
    assert alone == [matching.Pairing("false positive", None, 0, 0.0, None)]
    assert matching.match_instances(gts[:1], [0], [], [], []) == [
        matching.Pairing("miss", 0, None, 0.0, None)
    ]


def _boxes_only(boxes, scores) -> Prediction:
    """Detections with boxes and scores (labels 0, empty masks)."""
    count = len(boxes)
    return Prediction(
        boxes=boxes,
        scores=scores,
        labels=torch.zeros(count, dtype=torch.int64),
        masks=torch.zeros(count, 1, 1, dtype=torch.bool),
    )


def test_matching_is_greedy_by_score_and_one_to_one():
    target = {"boxes": torch.tensor([[0.0, 0.0, 10.0, 10.0], [20.0, 20.0, 40.0, 40.0]])}
    prediction = _boxes_only(
        torch.tensor(
            [
                [0.0, 0.0, 10.0, 9.0],  # IoU 0.9 with instance 0, low score
                [1.0, 1.0, 10.0, 10.0],  # IoU 0.81 with instance 0, best score: takes it
                [21.0, 21.0, 40.0, 40.0],  # instance 1
                [60.0, 60.0, 70.0, 70.0],  # matches nothing
            ]
        ),
        torch.tensor([0.5, 0.9, 0.8, 0.95]),
    )
    assert matching.match_to_ground_truth(prediction, target) == [(0, 1), (1, 2)]
    assert matching.match_to_ground_truth(prediction, target, score_threshold=0.85) == [(0, 1)]
    assert matching.match_to_ground_truth(prediction, target, iou_threshold=0.85) == [(0, 0), (1, 2)]
    empty = _boxes_only(torch.zeros(0, 4), torch.zeros(0))
    assert matching.match_to_ground_truth(empty, target) == []
