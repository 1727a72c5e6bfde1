"""Oracle-attention probes: the best attention for a mask on fixed bases, and their summary per method."""

from __future__ import annotations

import pytest
import torch
from fakes import make_prediction

from blendmask.analysis import blending_steps, mask_iou, oracle_attention, probe_detection, target_in_box
from blendmask.analysis.merge_comparison import merge_variant_configs
from blendmask.analysis.probes import ProbeRecord, format_probe_summary, summarize_probes
from blendmask.config import BlendMaskConfig

pytestmark = pytest.mark.usefixtures("one_torch_thread")

R = 16


def disk(radius: float = 5.0) -> torch.Tensor:
    yy, xx = torch.meshgrid(torch.arange(R), torch.arange(R), indexing="ij")
    return (((yy - 7.5) ** 2 + (xx - 6.5) ** 2) <= radius**2).float()


def test_oracle_reaches_the_mask_when_the_bases_can_express_it():
    gt = disk()
    noise = torch.randn(R, R, generator=torch.Generator().manual_seed(0))
    rois = torch.stack([8.0 * (2 * gt - 1), torch.full((R, R), -8.0), 3.0 * noise])
    result = oracle_attention(rois, gt, 4, steps=200)
    assert result.iou > 0.95
    assert result.attention.shape == (3, 4, 4) and result.logits.shape == (R, R)
    start = mask_iou(rois.mean(0), gt)  # zero attention = uniform weights: the mean basis
    assert start < 0.8 and mask_iou(result.logits, gt) == result.iou


def test_oracle_cannot_invent_a_shape_the_bases_lack():
    gt = disk()
    rois = torch.stack([torch.full((R, R), 4.0), torch.full((R, R), -4.0)])
    coarse = oracle_attention(rois, gt, 1, steps=150)  # M = 1: one weight for the whole box
    fine = oracle_attention(rois, gt, 8, steps=150)  # M = 8 can place the constant bases
    assert coarse.iou < 0.5 < fine.iou


def test_mask_iou_and_target_in_box():
    gt = disk()
    assert mask_iou(2 * gt - 1, gt) == 1.0 and mask_iou(-torch.ones(R, R), gt) == 0.0
    assert mask_iou(-torch.ones(R, R), torch.zeros(R, R)) == 1.0
    full = torch.zeros(40, 40, dtype=torch.bool)
    full[:, :20] = True
    target = target_in_box(full, torch.tensor([4.0, 4.0, 36.0, 36.0]), 8)
    assert torch.equal(target[:, :4], torch.ones(8, 4)) and torch.equal(target[:, 4:], torch.zeros(8, 4))


def test_probe_compares_predicted_and_oracle_attention():
    pred = make_prediction(resolution=8, attn_size=4)
    probe = probe_detection(pred, 0, pred["masks"][0], steps=100)
    steps = blending_steps(pred, 0)
    assert probe.target.shape == (8, 8)
    assert probe.predicted_iou == mask_iou(steps.logits, probe.target)
    assert probe.predicted_iou > 0.5, "the pasted mask cropped back matches the logits"
    assert 0.0 <= probe.oracle.iou <= 1.0 and probe.oracle.attention.shape == (4, 4, 4)


def test_probe_summary_compares_methods_on_common_instances():
    records = [
        ProbeRecord("blender", 0, 0, 0.8, {1: 0.6, 4: 0.9}),
        ProbeRecord("blender", 0, 1, 0.6, {1: 0.4, 4: 0.7}),
        ProbeRecord("weighted_sum", 0, 0, 0.5, {1: 0.5, 4: 0.8}),
    ]
    summary = summarize_probes(records)
    assert summary["blender"] == pytest.approx({"n": 1, "predicted": 0.8, "M=1": 0.6, "M=4": 0.9})
    assert summary["weighted_sum"]["n"] == 1
    every = summarize_probes(records, common=False)
    assert every["blender"] == pytest.approx({"n": 2, "predicted": 0.7, "M=1": 0.5, "M=4": 0.8})
    configs = merge_variant_configs(BlendMaskConfig.from_preset("cpu_tiny", num_classes=3))
    text = format_probe_summary(every, configs)
    assert "M=1" in text and "M=4" in text and "0.700" in text
