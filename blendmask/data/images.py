"""The one image reader: any file PIL decodes -> ``(3, H, W)`` float32 RGB in 0..1, as a viewer shows it.

EXIF orientation is applied (``PIL.ImageOps.exif_transpose``), as COCO's annotation tools do, so the
pixels match the ``width`` / ``height`` and masks of a COCO json. 8- and 16-bit, grayscale, palette,
RGBA (alpha dropped) and CMYK images are converted to RGB without clipping: 16-bit values are scaled
by 65535, 8-bit ones by 255.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import ImageReadError

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


def image_files(folder: str | os.PathLike) -> list[Path]:
    """The files directly in ``folder`` whose extension PIL reads, sorted by name."""
    extensions = {ext for ext, name in Image.registered_extensions().items() if name in Image.OPEN}
    return sorted(p for p in Path(folder).iterdir() if p.is_file() and p.suffix.lower() in extensions)
