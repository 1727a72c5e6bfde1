"""viz on a real, randomly initialised BlendMask: the steps it shows are the model's own numbers."""

from __future__ import annotations

import pytest
import torch

from blendmask import BlendMask, BlendMaskConfig
from blendmask.analysis.steps import blending_steps
from blendmask.engine import predict_image
from viz import BlendingExplorer

pytestmark = pytest.mark.usefixtures("one_torch_thread")

MODELS = [
    dict(method="blender", rkm="14_4_4"),
    dict(method="blender", rkm="14_1_4"),
    dict(method="weighted_sum", rkm="14_4_1"),
    dict(method="assembler", rkm="14_4_2", min_size_test=96, max_size_test=160),
]


def random_model(**overrides) -> BlendMask:
    """cpu_tiny with random weights; every location scores, so detections exist."""
    torch.manual_seed(0)
    cfg = BlendMaskConfig.from_preset(
        "cpu_tiny", num_classes=3, fcos_score_thresh=0.0, fcos_post_nms_topk=4, **overrides
    )
    return BlendMask(cfg)


@pytest.mark.parametrize("overrides", MODELS, ids=lambda o: f"{o['method']}-{o['rkm']}")
def test_blending_steps_equal_mask_logits_of_a_random_model(overrides):
    model = random_model(**overrides)
    model.train()
    image = torch.rand(3, 64, 80, generator=torch.Generator().manual_seed(1))
    pred = predict_image(model, image)
    assert model.training, "predict restores the model's train mode"
    assert len(pred["boxes"]) > 0
    for d in range(len(pred["boxes"])):
        steps = blending_steps(pred, d)
        torch.testing.assert_close(steps.logits, pred["mask_logits"][d])
        assert steps.num_bases == model.cfg.num_bases


def test_explorer_runs_a_model_and_shows_its_masks():
    model = random_model(method="blender", rkm="14_4_4")
    explorer = BlendingExplorer(model, [torch.rand(3, 48, 64)], score_threshold=0.0)
    pred = explorer.prediction
    torch.testing.assert_close(explorer.steps.logits, pred["mask_logits"][explorer.instance_select.value])
    assert explorer.blending.value[:4] == b"\x89PNG"
