"""Predictor: every accepted image type, the prediction dict with intermediates, safe loading."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from blendmask import BlendMask, BlendMaskConfig
from blendmask.data import to_image_tensor
from blendmask.engine import Predictor, save_checkpoint
from blendmask.modeling.blender import blend_steps

NAMES = ["ellipse", "rectangle", "triangle"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    cfg = BlendMaskConfig.from_preset("cpu_tiny", num_classes=3, class_names=NAMES, fcos_score_thresh=0.0)
    torch.manual_seed(0)
    model = BlendMask(cfg)
    path = tmp_path_factory.mktemp("ckpt") / "last.pt"
    save_checkpoint(
        {"model": model.state_dict(), "iteration": 0, "config": cfg.to_dict(), "categories": NAMES}, path
    )
    return path


@pytest.fixture(scope="module")
def pixels():
    return np.random.default_rng(0).integers(0, 256, size=(30, 40, 3), dtype=np.uint8)


def test_every_image_type_gives_the_same_tensor(pixels, tmp_path):
    expected = torch.from_numpy(pixels).permute(2, 0, 1).float() / 255
    path = tmp_path / "image.png"
    Image.fromarray(pixels).save(path)
    inputs = [
        path,
        str(path),
        Image.fromarray(pixels),
        pixels,
        np.concatenate([pixels, np.full((30, 40, 1), 255, np.uint8)], axis=2),  # RGBA
        expected.clone(),
        (expected * 255).round().to(torch.uint8),
    ]
    for image in inputs:
        tensor = to_image_tensor(image)
        assert type(tensor) is torch.Tensor and tensor.dtype == torch.float32
        torch.testing.assert_close(tensor, expected, atol=1e-6, rtol=0)


def test_grayscale_becomes_rgb(pixels):
    gray = to_image_tensor(Image.fromarray(pixels[:, :, 0]))
    assert gray.shape == (3, 30, 40) and torch.equal(gray[0], gray[2])


def test_bad_images_are_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothere.png"):
        to_image_tensor(tmp_path / "nothere.png")
    with pytest.raises(ValueError, match=r"0\.\.1, got 2\.\.2"):
        to_image_tensor(torch.full((3, 4, 4), 2.0))
    with pytest.raises(ValueError, match=r"0\.\.1, got -0\.5\.\.-0\.5"):
        to_image_tensor(np.full((4, 4, 3), -0.5, np.float32))
    with pytest.raises(ValueError, match="uint8 or float"):
        to_image_tensor(torch.zeros(3, 4, 4, dtype=torch.int32))
    with pytest.raises(ValueError, match=r"\(3, H, W\)"):
        to_image_tensor(torch.rand(5, 4, 4))


def test_predict_returns_intermediates_in_the_image_size(checkpoint, pixels):
    predictor = Predictor(checkpoint, device="cpu")
    assert predictor.categories == NAMES and predictor.cfg.num_classes == 3
    assert not predictor.model.training
    prediction = predictor.predict(pixels)
    d = prediction["boxes"].shape[0]
    assert d > 0  # score threshold 0: an untrained model still detects
    assert prediction["masks"].shape == (d, 30, 40) and prediction["masks"].dtype == torch.bool
    cfg = predictor.cfg
    assert prediction["rois"].shape == (d, cfg.num_bases, cfg.bottom_resolution, cfg.bottom_resolution)
    assert prediction["attentions"].shape == (d, cfg.num_bases, cfg.attn_size, cfg.attn_size)
    assert all(v.device.type == "cpu" for v in prediction.values() if torch.is_tensor(v))
    args = prediction["blend_args"]
    logits = blend_steps(
        prediction["rois"],
        prediction["attentions"],
        method=args["method"],
        attn_size=args["attn_size"],
        top_interp=args["top_interp"],
    ).logits
    torch.testing.assert_close(logits, prediction["mask_logits"])


def test_predictor_names_a_missing_checkpoint(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        Predictor(tmp_path / "missing.pt")
