"""Figure 1 drawn straight from arrays (numpy + PIL), for widgets that redraw on every control change.

``blending_panel`` lays out the same 3 x (shown bases + 2) grid as ``figures.blending_figure`` but
colour-maps each (R, R) map through the matplotlib colormap's lookup table and pastes it, so one
redraw costs milliseconds instead of a matplotlib figure's layout and rasterisation.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import torch
from matplotlib import colormaps
from matplotlib.colors import Colormap
from PIL import Image, ImageDraw, ImageFont
from torch import Tensor

from blendmask.analysis.steps import BlendingSteps, crop_in_box, top_bases
from viz.colors import attention_mixture, basis_cmap, basis_color, instance_color
from viz.images import to_uint8
from viz.overlay import FONT_PATH, mask_outline

TITLE_BAND = 16  # px above each tile for its title
GAP = 22  # px between tiles (holds the ⊗ / = / ⊕ signs)
HEADER = 24  # px for the panel's title line


@lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(FONT_PATH, size)


def colorize(values: np.ndarray, cmap: Colormap | str, vmin: float, vmax: float) -> np.ndarray:
    """(H, W) values -> (H, W, 3) uint8 through ``cmap`` over [vmin, vmax] (like ``imshow``)."""
    cmap = colormaps[cmap] if isinstance(cmap, str) else cmap
    span = max(vmax - vmin, 1e-12)
    return cmap(np.clip((np.asarray(values, dtype=np.float64) - vmin) / span, 0.0, 1.0), bytes=True)[..., :3]


def _fade(tile: np.ndarray, amount: float) -> np.ndarray:
    """Blend a uint8 tile towards white (amount 1 = unchanged)."""
    return (255.0 - amount * (255.0 - tile.astype(np.float64))).astype(np.uint8)


def _limit(values: Tensor) -> float:
    return max(float(values.abs().max()) if values.numel() else 0.0, 1e-6)


def _hex(rgb: tuple[float, float, float]) -> tuple[int, int, int]:
    return tuple(round(255 * c) for c in rgb)


def _overview_tile(rgb: Tensor, steps: BlendingSteps, mask: Tensor | None, size: int, colour) -> Image.Image:
    """The image fitted into size x size with the detection's box and mask outline."""
    height, width = rgb.shape[-2:]
    image = to_uint8(rgb.permute(1, 2, 0).numpy()).copy()
    if mask is not None and bool(mask.any()):
        image[mask_outline(mask[None].bool(), max(1, min(height, width) // 128))[0].numpy()] = colour
    factor = size / max(height, width)
    picture = Image.fromarray(image).resize(
        (max(1, round(width * factor)), max(1, round(height * factor))), Image.BILINEAR
    )
    x0, y0, x1, y1 = (v * factor for v in steps.box.tolist())
    ImageDraw.Draw(picture).rectangle((x0, y0, x1, y1), outline=colour, width=2)
    tile = Image.new("RGB", (size, size), "white")
    tile.paste(picture, ((size - picture.width) // 2, (size - picture.height) // 2))
    return tile


def _mask_tile(crop: np.ndarray, mask: np.ndarray, colour) -> np.ndarray:
    """(R, R, 3) uint8 crop with the mask filled (alpha 0.55) and outlined in ``colour``."""
    tile = crop.astype(np.float64)
    tile[mask] = 0.45 * tile[mask] + 0.55 * np.asarray(colour, dtype=np.float64)
    tile = tile.astype(np.uint8)
    if 0 < mask.sum() < mask.size:
        tile[mask_outline(torch.from_numpy(mask)[None])[0].numpy()] = colour
    return tile


def blending_panel(
    steps: BlendingSteps,
    image: Tensor,
    *,
    image_mask: Tensor | None = None,
    title: str = "",
    max_bases: int = 8,
    tile: int = 96,
) -> np.ndarray:
    """Figure 1 for ``steps`` as (H, W, 3) uint8: column 0 the image with the box, the attention mix
    and the image in the box; then per shown basis r^k ⊗ s^k = s^k r^k; last the mask, sigmoid(m)
    and the logits m. ``image``: (3, H, W) in 0..1; ``image_mask``: the detection's (H, W) mask."""
    shown = top_bases(steps, max_bases)
    columns = len(shown) + 2
    scale = max(1, round(tile / steps.resolution))
    size = steps.resolution * scale
    width = columns * size + (columns + 1) * GAP
    height = HEADER + 3 * (TITLE_BAND + size) + 2 * GAP + 14
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    small, sign = _font(11), _font(16)
    colour = instance_color(steps.index)
    crop = to_uint8(crop_in_box(image, steps.box, steps.resolution).permute(1, 2, 0).clamp(0, 1).numpy())

    def top(row: int) -> int:
        return HEADER + row * (TITLE_BAND + size + GAP) + TITLE_BAND

    def left(column: int) -> int:
        return GAP + column * (size + GAP)

    def put(array_or_image, row: int, column: int, label: str, fill=(40, 40, 40)) -> None:
        picture = (
            array_or_image if isinstance(array_or_image, Image.Image) else Image.fromarray(array_or_image)
        )
        if picture.size != (size, size):
            picture = picture.resize((size, size), Image.NEAREST)
        canvas.paste(picture, (left(column), top(row)))
        draw.text((left(column) + size / 2, top(row) - 2), label, fill=fill, font=small, anchor="md")

    draw.text((GAP, 4), title, fill=(20, 20, 20), font=_font(13))
    put(_overview_tile(image, steps, image_mask, size, colour), 0, 0, "detection")
    put(to_uint8(attention_mixture(steps.weights.numpy())), 1, 0, "attention mix")
    put(crop, 2, 0, "image in box")

    roi_limit = _limit(steps.rois[shown])
    product_limit = _limit(steps.products[shown])
    rois, weights, products = steps.rois.numpy(), steps.weights.numpy(), steps.products.numpy()
    for column, k in enumerate(shown, start=1):
        factor = steps.scales[k]
        fade = 1.0 if factor != 0 else 0.25
        state = "" if factor == 1 else (" off" if factor == 0 else f" ×{factor:g}")
        ink = _hex(basis_color(k))
        put(
            _fade(colorize(rois[k], basis_cmap(k), -roi_limit, roi_limit), fade),
            0,
            column,
            f"basis {k + 1}{state}",
            ink,
        )
        put(
            _fade(colorize(weights[k], basis_cmap(k, signed=False), 0.0, 1.0), fade),
            1,
            column,
            f"s{k + 1}",
            ink,
        )
        if steps.num_bases == 1:
            product = colorize(products[k], basis_cmap(k, signed=False), 0.0, 1.0)
        else:
            product = colorize(products[k], basis_cmap(k), -product_limit, product_limit)
        put(_fade(product, fade), 2, column, f"s{k + 1}·r{k + 1}", ink)
        centre = left(column) + size / 2
        for row, symbol in ((0, "⊗"), (1, "=")):
            draw.text((centre, top(row) + size + GAP / 2), symbol, fill=(0, 0, 0), font=sign, anchor="mm")
        between = "⊕" if column < len(shown) else "="
        draw.text(
            (left(column) + size + GAP / 2, top(2) + size / 2),
            between,
            fill=(0, 0, 0),
            font=sign,
            anchor="mm",
        )

    last = columns - 1
    logits, probs, mask = steps.logits.numpy(), steps.probs.numpy(), steps.mask.numpy()
    put(_mask_tile(crop, mask, colour), 0, last, f"mask σ(m) ≥ {steps.mask_threshold:g}")
    put(colorize(probs, "magma", 0.0, 1.0), 1, last, "σ(m)")
    limit = _limit(steps.logits)
    put(colorize(logits, "RdBu_r", -limit, limit), 2, last, "logits m")
    hidden = steps.num_bases - len(shown)
    if hidden:
        note = f"{hidden} smaller contributions not drawn (their sum is in the logits)"
        draw.text((width / 2, height - 2), note, fill=(80, 80, 80), font=small, anchor="md")
    return np.asarray(canvas)


def stack(pictures: Sequence[np.ndarray], *, axis: int = 0, gap: int = 8) -> np.ndarray:
    """(H, W, 3) uint8 pictures stacked top to bottom (axis 0) or left to right (axis 1) on white,
    aligned to the top-left."""
    if not pictures:
        raise ValueError("stack needs at least one picture")
    heights = [p.shape[0] for p in pictures]
    widths = [p.shape[1] for p in pictures]
    if axis == 0:
        size = (max(widths), sum(heights) + gap * (len(pictures) - 1))
    else:
        size = (sum(widths) + gap * (len(pictures) - 1), max(heights))
    canvas = Image.new("RGB", size, "white")
    offset = 0
    for picture in pictures:
        canvas.paste(Image.fromarray(picture), (0, offset) if axis == 0 else (offset, 0))
        offset += (picture.shape[0] if axis == 0 else picture.shape[1]) + gap
    return np.asarray(canvas)


def text_picture(text: str, *, font_size: int = 12) -> np.ndarray:
    """Monospaced ``text`` (lines kept) on white as (H, W, 3) uint8, e.g. a printed table."""
    font = ImageFont.truetype(FONT_PATH.replace("DejaVuSans.ttf", "DejaVuSansMono.ttf"), font_size)
    lines = text.splitlines() or [""]
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    width = max(int(probe.textlength(line, font=font)) for line in lines) + 8
    canvas = Image.new("RGB", (max(width, 8), (font_size + 4) * len(lines) + 8), "white")
    draw = ImageDraw.Draw(canvas)
    for row, line in enumerate(lines):
        draw.text((4, 4 + row * (font_size + 4)), line, fill=(20, 20, 20), font=font)
    return np.asarray(canvas)
