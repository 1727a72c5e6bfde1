"""The one image reader and converter: any file PIL decodes, PIL image, array or tensor -> ``(3, H, W)``
float32 RGB in 0..1, as a viewer shows it.

EXIF orientation is applied (``PIL.ImageOps.exif_transpose``), as COCO's annotation tools do, so the
pixels match the ``width`` / ``height`` and masks of a COCO json. 8- and 16-bit, grayscale, palette,
RGBA (alpha dropped) and CMYK images are converted to RGB without clipping: 16-bit values are scaled
by 65535, 8-bit ones by 255.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TypeAlias

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import ImageReadError

ImageInput: TypeAlias = str | os.PathLike | Image.Image | np.ndarray | torch.Tensor

# integer modes wider than 8 bit and the largest value of each
_WIDE_MODES = {"I;16": 65535, "I;16B": 65535, "I;16L": 65535, "I;16N": 65535, "I": 65535}


def pil_to_tensor(image: Image.Image) -> torch.Tensor:
    """A PIL image -> ``(3, H, W)`` float32 RGB in 0..1 (EXIF orientation applied)."""
    image = ImageOps.exif_transpose(image)
    if image.mode in _WIDE_MODES:
        gray = np.asarray(image, dtype=np.float32) / np.float32(_WIDE_MODES[image.mode])
        pixels = np.repeat(np.clip(gray, 0, 1)[:, :, None], 3, axis=2)
    elif image.mode == "F":
        pixels = np.repeat(np.clip(np.asarray(image, dtype=np.float32), 0, 1)[:, :, None], 3, axis=2)
    else:
        pixels = np.asarray(image.convert("RGB"), dtype=np.float32) / np.float32(255)
    return torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1)))


def read_image(path: str | os.PathLike) -> torch.Tensor:
    """The image file at ``path`` -> ``(3, H, W)`` float32 RGB in 0..1.

    Raises FileNotFoundError for a missing file and :class:`ImageReadError` naming the path for a
    file that is empty, truncated or not an image.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image not found: {path}")
    try:
        with Image.open(path) as handle:
            handle.load()
            return pil_to_tensor(handle)
    except UnidentifiedImageError:
        reason = "empty file" if path.stat().st_size == 0 else "not an image file PIL can decode"
        raise ImageReadError(path, reason) from None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
        raise ImageReadError(path, str(error) or type(error).__name__) from error


def to_image_tensor(image: ImageInput) -> torch.Tensor:
    """Any RGB image -> ``(3, H, W)`` float32 RGB in 0..1 on the CPU.

    Accepts a path or PIL image (read as :func:`read_image` reads files), a numpy array (H, W, 3),
    (H, W, 4) (alpha dropped) or (H, W), or a tensor (3, H, W) or (H, W); uint8 values are scaled
    by 255. Float values must already lie in 0..1: anything outside raises ValueError (a 0..255
    float image clamped would show white and predict nothing).
    """
    if isinstance(image, str | os.PathLike):
        return read_image(image)
    if isinstance(image, Image.Image):
        return pil_to_tensor(image)
    if isinstance(image, np.ndarray):
        if image.ndim == 2:
            image = np.repeat(image[:, :, None], 3, axis=2)
        if image.ndim != 3 or image.shape[2] not in (3, 4):
            raise ValueError(f"array images must be (H, W, 3), (H, W, 4) or (H, W), got shape {image.shape}")
        tensor = torch.from_numpy(np.ascontiguousarray(image[:, :, :3])).permute(2, 0, 1)
    elif isinstance(image, torch.Tensor):
        tensor = image.detach().cpu()
        if tensor.ndim == 2:
            tensor = tensor.expand(3, -1, -1)
        if tensor.ndim != 3 or tensor.shape[0] != 3:
            raise ValueError(f"tensor images must be (3, H, W) or (H, W), got shape {tuple(image.shape)}")
    else:
        raise TypeError(f"image must be a path, PIL image, numpy array or tensor, got {type(image).__name__}")
    if tensor.dtype == torch.uint8:
        return tensor.float() / 255.0
    if not tensor.is_floating_point():
        raise ValueError(f"images must be uint8 or float in 0..1, got {tensor.dtype}")
    tensor = tensor.float()
    if tensor.numel() and (tensor.min() < 0 or tensor.max() > 1):
        raise ValueError(
            f"float images must hold values in 0..1, got {float(tensor.min()):g}..{float(tensor.max()):g}"
        )
    return tensor.as_subclass(torch.Tensor)


def image_files(folder: str | os.PathLike) -> list[Path]:
    """The files directly in ``folder`` whose extension PIL reads, sorted by name."""
    extensions = {ext for ext, name in Image.registered_extensions().items() if name in Image.OPEN}
    return sorted(p for p in Path(folder).iterdir() if p.is_file() and p.suffix.lower() in extensions)
