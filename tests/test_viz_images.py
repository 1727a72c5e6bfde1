"""Image conversions, box crop/paste geometry and the palettes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from blendmask.analysis.steps import crop_in_box
from viz import attention_mixture, basis_color, basis_colors, instance_color
from viz.images import as_image_tensor, paste_in_box


def test_images_of_every_kind_become_the_same_tensor():
    array = np.random.default_rng(0).integers(0, 256, size=(5, 7, 3), dtype=np.uint8)
    expected = torch.from_numpy(array).permute(2, 0, 1).float() / 255
    for image in (array, Image.fromarray(array), torch.from_numpy(array).permute(2, 0, 1), expected):
        torch.testing.assert_close(as_image_tensor(image), expected)
    assert as_image_tensor(array[..., 0]).shape == (3, 5, 7)
    with pytest.raises(ValueError, match=r"\(3, H, W\)"):
        as_image_tensor(torch.zeros(4, 5, 7))


def test_paste_and_crop_are_exact_on_a_pixel_aligned_box():
    values = torch.arange(2 * 6 * 6, dtype=torch.float32).reshape(2, 6, 6)
    box = torch.tensor([3.0, 2.0, 9.0, 8.0])  # 6 x 6 px: one pixel per region cell
    pasted = paste_in_box(values, box, (12, 14))
    torch.testing.assert_close(pasted[:, 2:8, 3:9], values)
    assert pasted.sum() == pasted[:, 2:8, 3:9].sum(), "nothing outside the box"
    torch.testing.assert_close(crop_in_box(pasted, box, 6), values)


def test_paste_stretches_into_a_fractional_box():
    pasted = paste_in_box(torch.ones(1, 4, 4), torch.tensor([1.5, 0.0, 4.5, 2.0]), (3, 6))
    assert pasted[0].tolist() == [[0, 1, 1, 1, 0, 0]] * 2 + [[0] * 6], "centres in [x0, x1) x [y0, y1)"


def test_palettes_are_fixed_and_mixtures_follow_the_weights():
    assert basis_color(0) == pytest.approx((0.839, 0.153, 0.157), abs=1e-3)  # the paper's red first
    assert np.allclose(basis_colors(12)[:4], [basis_color(k) for k in range(4)])
    assert len({basis_color(k) for k in range(40)}) == 40
    assert instance_color(3) == instance_color(3) and instance_color(0) != instance_color(1)
    weights = np.zeros((3, 2, 2))
    weights[1] = 1.0
    weights[2, 0, 0], weights[1, 0, 0] = 0.5, 0.5
    mixed = attention_mixture(weights)
    np.testing.assert_allclose(mixed[1, 1], basis_color(1))
    np.testing.assert_allclose(mixed[0, 0], (np.array(basis_color(1)) + basis_color(2)) / 2)
    np.testing.assert_allclose(attention_mixture(np.zeros((1, 2, 2)))[0, 0], (1, 1, 1)), "no weight: white"
