"""Real photos that ship inside scikit-image, and their conversion to a model's input."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor
from torchvision.transforms.v2 import functional as TF

from ..config import BlendMaskConfig

PHOTOS = ("astronaut", "coffee", "chelsea")


def sample_photos(names: Sequence[str] = PHOTOS) -> dict[str, np.ndarray]:
    """Photos that ship inside scikit-image (no download): name -> (H, W, 3) uint8 RGB."""
    from skimage import data

    photos = {}
    for name in names:
        loader = getattr(data, name, None)
        if loader is None:
            raise ValueError(f"skimage.data has no image {name!r}")
        photos[name] = np.asarray(loader())[..., :3]
    return photos


def resize_for_model(image: np.ndarray | Tensor, cfg: BlendMaskConfig) -> Tensor:
    """``(3, h, w)`` float 0..1 for the model: a model that keeps the input size (``min_size_test``
    None, e.g. ``cpu_tiny``) gets the photo at its training scale (shorter side = the smallest
    ``min_size_train``); a model that resizes internally gets it unchanged."""
    tensor = TF.to_image(image) if isinstance(image, np.ndarray) else image
    tensor = TF.to_dtype(tensor, torch.float32, scale=True).as_subclass(Tensor)
    if cfg.min_size_test is None:
        tensor = TF.resize(tensor, [min(cfg.min_size_train)], antialias=True).clamp(0, 1)
    return tensor
