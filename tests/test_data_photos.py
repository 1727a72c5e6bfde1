"""The scikit-image photos and their resizing for a model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from blendmask import BlendMaskConfig
from blendmask.data.photos import PHOTOS, resize_for_model, sample_photos


def test_photos_are_resized_only_for_models_that_keep_the_input_size():
    photos = sample_photos()
    assert list(photos) == list(PHOTOS) and all(p.ndim == 3 and p.shape[2] == 3 for p in photos.values())
    astronaut = photos["astronaut"]
    tiny = resize_for_model(astronaut, BlendMaskConfig.from_preset("cpu_tiny"))
    assert tiny.shape == (3, 128, 128) and tiny.dtype == torch.float32 and 0 <= tiny.min() <= tiny.max() <= 1
    full = resize_for_model(astronaut, BlendMaskConfig.from_preset("R_50_1x"))
    assert full.shape == (3, *astronaut.shape[:2])
    assert np.allclose(full.permute(1, 2, 0).numpy() * 255, astronaut, atol=0.5)
    with pytest.raises(ValueError, match="no image"):
        sample_photos(["not_a_photo"])
