"""The fakes (tests/fakes.py) honour the model's documented prediction invariants."""

from __future__ import annotations

import pytest
import torch
from fakes import CASES, make_prediction

from blendmask.modeling.blender import blend_steps, crop_bases


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c['method']}-K{c['num_bases']}")
def test_fixture_honours_the_prediction_invariants(case):
    pred = make_prediction(**case)
    args = pred["blend_args"]
    rois = crop_bases(
        pred["bases"][None],
        [pred["input_boxes"]],
        resolution=args["resolution"],
        stride=args["stride"],
        pooler=args["pooler"],
    )
    torch.testing.assert_close(rois, pred["rois"])
    logits = blend_steps(
        pred["rois"],
        pred["attentions"],
        method=args["method"],
        attn_size=args["attn_size"],
        top_interp=args["top_interp"],
    ).logits
    torch.testing.assert_close(logits, pred["mask_logits"])
    assert pred["masks"].dtype == torch.bool and pred["masks"].shape[1:] == pred["image_size"]
    assert pred["masks"].any(dim=(1, 2)).all(), "every random detection has some mask pixels"


def test_fixture_with_zero_detections_has_empty_tensors():
    pred = make_prediction(num_dets=0)
    assert pred["boxes"].shape == (0, 4) and pred["rois"].shape[0] == 0 and pred["masks"].shape[0] == 0
