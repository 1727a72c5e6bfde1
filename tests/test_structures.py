"""Prediction and BlendSettings: selection, devices, reading by key, frozen settings."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from fakes import make_prediction

from blendmask import BlendMaskConfig
from blendmask.structures import BlendSettings, Prediction

PER_DETECTION = ("boxes", "scores", "labels", "masks", "input_boxes", "attentions", "rois", "mask_logits")


def test_select_by_index_mask_and_slice_keeps_the_per_image_fields():
    pred = make_prediction(num_dets=4)
    by_index = pred.select(torch.tensor([2, 0]))
    by_mask = pred.select(torch.tensor([True, False, True, False]))
    by_slice = pred.select(slice(1, 3))
    for name in PER_DETECTION:
        value = getattr(pred, name)
        torch.testing.assert_close(getattr(by_index, name), value[[2, 0]], atol=0, rtol=0)
        torch.testing.assert_close(getattr(by_mask, name), value[[0, 2]], atol=0, rtol=0)
        torch.testing.assert_close(getattr(by_slice, name), value[1:3], atol=0, rtol=0)
    assert len(by_index) == len(by_mask) == len(by_slice) == 2 and len(pred) == 4
    for name in ("bases", "image_size", "input_size", "scale", "blend_args"):
        assert getattr(by_index, name) is getattr(pred, name)
    one = pred.select(3)
    assert (
        len(one) == 1
        and torch.equal(one.boxes, pred.boxes[3:])
        and one.rois.shape == (1, *pred.rois.shape[1:])
    )
    assert len(pred.select([])) == 0 and pred.select([]).masks.shape == (0, *pred.masks.shape[1:])


def test_score_threshold_selects_the_detections_at_or_above_it():
    pred = make_prediction(num_dets=4)  # scores 0.95 .. 0.35
    pred.scores = torch.tensor([0.2, 0.9, 0.5, 0.7])
    assert pred.indices_above(0.5).tolist() == [1, 2, 3]
    kept = pred.above(0.6)
    assert kept.scores.tolist() == pytest.approx([0.9, 0.7]) and torch.equal(kept.masks, pred.masks[[1, 3]])
    assert len(pred.above(0.95)) == 0


def test_assembler_predictions_select_without_attentions():
    pred = make_prediction(method="assembler", num_bases=4, attn_size=2, num_dets=3)
    assert pred.attentions is None and "attentions" in pred
    assert pred.above(0.5).attentions is None and pred["attentions"] is None


def test_cpu_detaches_and_to_moves_every_tensor():
    pred = make_prediction()
    pred.rois = pred.rois.clone().requires_grad_()
    on_cpu = pred.cpu()
    assert not on_cpu.rois.requires_grad and pred.rois.requires_grad
    assert on_cpu.image_size == pred.image_size and on_cpu.blend_args is pred.blend_args
    moved = pred.to("meta")
    assert all(v.device.type == "meta" for v in moved.values() if torch.is_tensor(v))
    assert pred.boxes.device.type == "cpu", "to() returns a copy"


def test_reading_by_key_like_a_torchvision_detection_dict():
    pred = make_prediction()
    assert pred["boxes"] is pred.boxes and pred.get("labels") is pred.labels and pred.get("nothing") is None
    assert list(pred.keys())[:4] == ["boxes", "scores", "labels", "masks"] and "blend_args" in pred
    assert dict(pred.items())["mask_logits"] is pred.mask_logits and sorted(pred) == sorted(pred.keys())
    with pytest.raises(KeyError, match="nothing"):
        pred["nothing"]
    detections = Prediction(boxes=pred.boxes, scores=pred.scores, labels=pred.labels, masks=pred.masks)
    assert list(detections.keys()) == ["boxes", "scores", "labels", "masks"] and "bases" not in detections
    with pytest.raises(KeyError, match="bases"):
        detections["bases"]
    assembled = dataclasses.replace(detections, rois=pred.rois)
    assert list(assembled.keys())[4:] == ["attentions", "rois"] and assembled["attentions"] is None


def test_blend_settings_are_frozen_read_by_key_and_come_from_the_config():
    cfg = BlendMaskConfig.from_preset("cpu_tiny", num_classes=3)
    settings = cfg.blend_args
    assert settings == BlendSettings(
        resolution=cfg.bottom_resolution,
        stride=cfg.bases_stride,
        method=cfg.method,
        attn_size=cfg.attn_size,
        pooler=cfg.pooler,
        top_interp=cfg.top_interp,
    )
    assert settings["stride"] == settings.stride and settings.kwargs()["top_interp"] == cfg.top_interp
    assert set(settings.kwargs()) == {f.name for f in dataclasses.fields(BlendSettings)}
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.stride = 8
    with pytest.raises(KeyError):
        settings["kwargs"]
