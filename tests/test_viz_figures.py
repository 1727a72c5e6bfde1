"""Figure 1 / Figure 3 renders: axes, finite images, one colour per basis, attention projection."""

from __future__ import annotations

import math

import numpy as np
import pytest
from fakes import make_image, make_prediction
from matplotlib.colors import to_rgb
from matplotlib.image import AxesImage

from viz import attention_overlay, bases_figure, basis_color, blending_figure, select_instances


def images_of(fig) -> list[np.ndarray]:
    return [
        np.asarray(a.get_array()) for ax in fig.axes for a in ax.get_children() if isinstance(a, AxesImage)
    ]


def assert_finite(fig) -> None:
    arrays = images_of(fig)
    assert arrays, "the figure shows images"
    for array in arrays:
        assert np.isfinite(np.ma.filled(array.astype(float), np.nan)).all()


@pytest.mark.parametrize("num_bases", [1, 4, 8])
def test_blending_figure_axes_and_images(num_bases):
    pred = make_prediction(num_bases=num_bases, attn_size=2, resolution=8)
    fig = blending_figure(pred, make_image(), 1)
    assert len(fig.axes) == 3 * (num_bases + 2)
    assert_finite(fig)
    fig.canvas.draw()  # the whole figure renders headless
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert texts.count(r"$\otimes$") == num_bases
    assert texts.count(r"$\oplus$") == num_bases - 1


def test_blending_figure_draws_each_basis_in_its_colour():
    fig = blending_figure(make_prediction(num_bases=4), make_image(), 0)
    basis_axes = [ax for ax in fig.axes if ax.get_title().startswith("basis")]
    assert len(basis_axes) == 4
    for k, ax in enumerate(basis_axes):
        image = next(a for a in ax.get_children() if isinstance(a, AxesImage))
        np.testing.assert_allclose(image.cmap(1.0)[:3], basis_color(k), atol=1e-6)
        np.testing.assert_allclose(to_rgb(ax.title.get_color()), basis_color(k))


def test_blending_figure_caps_the_number_of_basis_columns():
    pred = make_prediction(method="assembler", num_bases=16, attn_size=4, resolution=8)
    fig = blending_figure(pred, make_image(), 0, max_bases=5)
    assert len(fig.axes) == 3 * (5 + 2)
    assert any("11 smaller contributions" in t.get_text() for t in fig.texts)


def test_blending_figure_marks_switched_off_bases():
    fig = blending_figure(make_prediction(), make_image(), 0, scales=[1.0, 0.0, 0.5, 1.0])
    titles = [ax.get_title() for ax in fig.axes if ax.get_title().startswith("basis")]
    assert titles == ["basis 1", "basis 2 off", "basis 3 ×0.5", "basis 4"]


@pytest.mark.parametrize("num_bases", [1, 4, 8])
def test_bases_figure_axes_and_images(num_bases):
    pred = make_prediction(num_bases=num_bases, attn_size=2, resolution=8)
    fig = bases_figure(pred, make_image())
    assert len(fig.axes) == num_bases + 1
    assert_finite(fig)
    fig.canvas.draw()


def test_bases_figure_with_one_instance_or_none():
    pred = make_prediction()
    one = bases_figure(pred, make_image(), instances=2)
    assert one.axes[-1].get_title().endswith("1 detection")
    empty = bases_figure(make_prediction(num_dets=0), make_image())
    assert empty.axes[-1].get_title().endswith("no detections")
    assert_finite(empty)


def test_bases_are_drawn_in_original_image_coordinates():
    pred = make_prediction(scale=1.5)
    fig = bases_figure(pred, make_image())
    image = next(a for a in fig.axes[0].get_children() if isinstance(a, AxesImage))
    height, width = pred["bases"].shape[1:]
    assert image.get_extent() == pytest.approx([0, width * 4 / 1.5, height * 4 / 1.5, 0])


def test_attention_overlay_paints_each_assembler_tile_in_its_basis_colour():
    pred = make_prediction(method="assembler", num_bases=4, attn_size=2, resolution=8, num_dets=1)
    overlay = attention_overlay(pred, make_image(), instances=0, region="box", opacity=1.0)
    x0, y0, x1, y1 = pred["boxes"][0].tolist()
    for i in range(2):
        for j in range(2):
            x = math.floor(x0 + (j + 0.5) / 2 * (x1 - x0))
            y = math.floor(y0 + (i + 0.5) / 2 * (y1 - y0))
            np.testing.assert_allclose(overlay[y, x], basis_color(2 * i + j), atol=1e-5)
    outside = overlay[int(y1) + 1 :, :] if y1 + 1 < overlay.shape[0] else overlay[:, int(x1) + 1 :]
    assert outside.size and (outside.max(axis=-1) - outside.min(axis=-1)).max() < 1e-6, "outside: grey image"


def test_select_instances_orders_by_score_and_applies_the_threshold():
    pred = make_prediction(num_dets=3)  # scores 0.95, 0.65, 0.35
    assert select_instances(pred, score_threshold=0.5) == [1, 0]
    assert select_instances(pred, [0, 2]) == [2, 0]
    with pytest.raises(IndexError):
        select_instances(pred, 5)


def test_figures_say_so_when_the_prediction_has_no_detections():
    from viz import plotly_attention

    pred = make_prediction(num_dets=0)
    fig = blending_figure(pred, make_image(), 0)
    assert not fig.axes and "No detections" in fig.texts[0].get_text()
    assert len(bases_figure(pred, make_image()).axes) == 5
    assert "No detections" in plotly_attention(pred, 0).layout.annotations[0].text
