"""One image reader everywhere: EXIF orientation, 16-bit and every colour mode, errors naming the file."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from blendmask.data import CocoInstances, read_image, to_image_tensor
from blendmask.errors import ImageReadError

ORIENTATION = 0x0112  # EXIF tag; 6 = shown rotated 90 degrees clockwise


def _pattern(height: int, width: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (height, width, 3), dtype=np.uint8)


def _save_rotated(path, pixels: np.ndarray) -> None:
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    Image.fromarray(pixels).save(path, exif=exif)


def _shown(pixels: np.ndarray) -> torch.Tensor:
    """What a viewer shows for orientation 6: the stored pixels turned 90 degrees clockwise."""
    return torch.from_numpy(np.rot90(pixels, k=-1).copy()).permute(2, 0, 1).float() / 255


def _sixteen_bit(path) -> np.ndarray:
    values = np.linspace(21074, 47288, 32 * 48).reshape(32, 48).astype(np.uint16)
    Image.fromarray(values).save(path)
    return values


def test_sixteen_bit_png_is_scaled_not_clipped(tmp_path):
    values = _sixteen_bit(tmp_path / "deep.png")
    for image in (read_image(tmp_path / "deep.png"), to_image_tensor(tmp_path / "deep.png")):
        assert image.shape == (3, 32, 48)
        expected = torch.from_numpy(values.astype(np.float32) / 65535)
        torch.testing.assert_close(image[0], expected)
        assert image.max() < 0.73 and image.min() > 0.32


def test_exif_orientation_is_applied_to_files_and_pil_images(tmp_path):
    pixels = _pattern(32, 48)
    _save_rotated(tmp_path / "turned.png", pixels)
    shown = _shown(pixels)
    assert shown.shape == (3, 48, 32)
    torch.testing.assert_close(read_image(tmp_path / "turned.png"), shown)
    torch.testing.assert_close(to_image_tensor(tmp_path / "turned.png"), shown)
    with Image.open(tmp_path / "turned.png") as handle:
        torch.testing.assert_close(to_image_tensor(handle), shown)


@pytest.mark.parametrize("mode", ["L", "P", "RGBA", "CMYK", "LA", "1"])
def test_colour_modes_read_as_rgb(tmp_path, mode):
    source = Image.fromarray(_pattern(16, 24)).convert(mode)
    path = tmp_path / ("image.tif" if mode == "CMYK" else "image.png")
    source.save(path)
    expected = torch.from_numpy(np.array(source.convert("RGB"))).permute(2, 0, 1).float() / 255
    torch.testing.assert_close(read_image(path), expected)


@pytest.mark.parametrize("kind", ["zero-byte", "truncated", "text"])
def test_unreadable_image_names_its_path(tmp_path, kind):
    good = tmp_path / "good.png"
    Image.fromarray(_pattern(64, 64)).save(good)
    path = tmp_path / f"{kind}.png"
    content = {"zero-byte": b"", "truncated": good.read_bytes()[:300], "text": b"hello, not a picture\n"}[
        kind
    ]
    path.write_bytes(content)
    with pytest.raises(ImageReadError, match=f"{kind}.png: cannot read the image"):
        read_image(path)


def _one_image_json(path, file_name, width, height):
    box = [4, 4, width // 2, height // 2]
    x, y, w, h = box
    data = {
        "images": [{"id": 1, "file_name": file_name, "width": width, "height": height}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": box, "area": w * h, "iscrowd": 0,
             "segmentation": [[x, y, x + w, y, x + w, y + h, x, y + h]]}
        ],
        "categories": [{"id": 1, "name": "thing"}],
    }  # fmt: skip
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize("stored", [(64, 64), (48, 64)], ids=["square", "non-square"])
def test_dataset_reads_exif_rotated_images_as_shown(tmp_path, stored):
    height, width = stored
    pixels = _pattern(height, width)
    _save_rotated(tmp_path / "turned.png", pixels)
    ann = _one_image_json(tmp_path / "ann.json", "turned.png", width=height, height=width)  # as shown
    dataset = CocoInstances(tmp_path, ann)
    image, target = dataset[0]
    assert not dataset.skipped
    torch.testing.assert_close(image, _shown(pixels))
    assert target["masks"].shape[1:] == image.shape[1:]


def test_dataset_reads_sixteen_bit_images(tmp_path):
    values = _sixteen_bit(tmp_path / "deep.png")
    dataset = CocoInstances(tmp_path, _one_image_json(tmp_path / "ann.json", "deep.png", 48, 32))
    image, _ = dataset[0]
    torch.testing.assert_close(image[1], torch.from_numpy(values.astype(np.float32) / 65535))
