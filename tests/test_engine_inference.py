"""The inference fast path: precision resolution, bfloat16 predictions in float32, mask agreement."""

from __future__ import annotations

import pytest
import torch

from blendmask import BlendMask, BlendMaskConfig
from blendmask.analysis.precision import mask_agreement, precision_cost
from blendmask.data import make_synthetic_coco
from blendmask.engine import Predictor, coco_eval_set, save_checkpoint
from blendmask.engine.inference import inference_dtype, precision_name
from blendmask.structures import Prediction

NAMES = ["ellipse", "rectangle", "triangle"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    cfg = BlendMaskConfig.from_preset("cpu_tiny", num_classes=3, class_names=NAMES, fcos_score_thresh=0.0)
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "last.pt"
    state = {
        "model": BlendMask(cfg).state_dict(),
        "iteration": 0,
        "config": cfg.to_dict(),
        "categories": NAMES,
    }
    save_checkpoint(state, path)
    return path


def test_precision_names_resolve_and_bad_ones_are_refused():
    assert inference_dtype("float32", "cpu") is None
    assert inference_dtype("bfloat16", "cpu") is torch.bfloat16
    assert inference_dtype("auto", "cpu") in (None, torch.bfloat16)
    with pytest.raises(ValueError, match="precision must be one of"):
        inference_dtype("fp8", "cpu")


def test_bfloat16_predictor_gives_float32_outputs_close_to_the_reference(checkpoint):
    image = torch.rand(3, 64, 80, generator=torch.Generator().manual_seed(1))
    reference = Predictor(checkpoint, "cpu").predict(image)
    fast_predictor = Predictor(checkpoint, "cpu", precision="bfloat16")
    assert precision_name(fast_predictor.model) == "bfloat16"
    assert fast_predictor.model.backbone.body.stem[0].weight.is_contiguous(memory_format=torch.channels_last)
    fast = fast_predictor.predict(image)
    assert set(fast) == set(reference)
    for key in ("boxes", "scores", "mask_logits", "bases"):
        assert fast[key].dtype == torch.float32, key
    assert fast["masks"].shape[1:] == (64, 80)
    # random weights: scores are nearly tied, so compare the top scores as sets of values
    assert torch.allclose(fast["scores"][:5], reference["scores"][:5], atol=0.02)


def test_mask_agreement_is_the_best_same_label_iou():
    masks = torch.zeros(3, 8, 8, dtype=torch.bool)
    masks[0, :4, :4] = True  # label 0
    masks[1, 4:, 4:] = True  # label 1
    masks[2, :4, :2] = True  # label 0, half of mask 0
    reference = Prediction(
        boxes=torch.zeros(3, 4),
        scores=torch.tensor([0.9, 0.8, 0.1]),
        labels=torch.tensor([0, 1, 0]),
        masks=masks,
    )
    other = reference.select([2, 1])
    other.labels = torch.tensor([0, 0])
    iou = mask_agreement(reference, other)
    assert iou.tolist() == [0.5, 0.0]  # mask 1 only matches a label-0 detection: no agreement
    assert mask_agreement(reference, reference.select([2, 1])).tolist() == [0.5, 1.0]


def test_precision_cost_reports_both_paths(checkpoint, tmp_path):
    data = make_synthetic_coco(tmp_path, num_train=1, num_val=2, image_size=64, seed=0)
    cost = precision_cost(checkpoint, coco_eval_set(data.val_images, data.val_ann), precision="bfloat16")
    assert cost["num_images"] == 2
    assert cost["float32"]["precision"] == "float32" and cost["bfloat16"]["precision"] == "bfloat16"
    assert 0.0 <= cost["float32"]["mask_AP"] <= 1.0
    assert cost["mean_mask_iou"] is None or 0.0 <= cost["mean_mask_iou"] <= 1.0
