"""Instances drawn on the image: filled masks, contours (holes kept), boxes and labels."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib import font_manager
from PIL import Image, ImageDraw, ImageFont
from torch import Tensor
from torchvision.utils import draw_bounding_boxes

from blendmask.data import to_image_tensor
from blendmask.structures import Prediction
from viz.colors import instance_color

COLOR_BY = ("instance", "class")
GAP = 6
FONT_PATH = font_manager.findfont("DejaVu Sans")


def mask_outline(masks: Tensor, width: int = 1) -> Tensor:
    """(N, H, W) bool -> the pixels within ``width`` of each mask's border, inner holes included.

    Each mask is processed inside its own bounding region, so the cost follows the mask areas.
    """
    out = torch.zeros_like(masks)
    rows, cols = masks.any(dim=2), masks.any(dim=1)  # (N, H), (N, W)
    for i in range(masks.shape[0]):
        ys, xs = rows[i].nonzero(), cols[i].nonzero()
        if len(ys) == 0:
            continue
        y0, x0 = max(int(ys[0]) - width, 0), max(int(xs[0]) - width, 0)
        y1, x1 = int(ys[-1]) + 1 + width, int(xs[-1]) + 1 + width
        crop = masks[i, y0:y1, x0:x1]
        outside = (~crop).float()[None, None]
        near_outside = F.max_pool2d(outside, kernel_size=2 * width + 1, stride=1, padding=width)[0, 0] > 0
        out[i, y0:y1, x0:x1] = crop & near_outside
    return out


def _topmost(masks: Tensor) -> Tensor:
    """(K, H, W) bool -> (H, W) int64: the last mask covering each pixel, -1 where none does."""
    dtype = torch.uint8 if masks.shape[0] < 255 else torch.int64  # uint8: 8x less memory to reduce
    order = torch.arange(1, masks.shape[0] + 1, dtype=dtype)[:, None, None]
    return (masks.to(dtype) * order).amax(dim=0).long() - 1


def fill_masks(image: Tensor, masks: Tensor, palette: Tensor, alpha: float) -> Tensor:
    """Masks (K, H, W) bool filled with ``palette`` (K, 3) uint8 at ``alpha`` over ``image`` (3, H, W)
    uint8: the pixels of torchvision's ``draw_segmentation_masks`` (overlaps black), in one pass
    instead of one boolean assignment per mask."""
    if masks.shape[0] == 0:
        return image
    top = _topmost(masks)
    paint = palette[top.clamp_min(0)].permute(2, 0, 1)  # (3, H, W)
    paint = torch.where(masks.sum(dim=0) > 1, torch.zeros_like(paint), paint)
    paint = torch.where(top >= 0, paint, image)
    return (image * (1 - alpha) + paint * alpha).to(torch.uint8)


def _text_color(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    luminance = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]
    return (0, 0, 0) if luminance > 150 else (255, 255, 255)


def _label_text(label: int, score: float | None, class_names: Sequence[str] | None) -> str:
    name = class_names[label] if class_names is not None and 0 <= label < len(class_names) else str(label)
    return name if score is None else f"{name} {score:.2f}"


def _draw_one(
    image: Tensor,
    instances: Prediction | Mapping,
    *,
    score_threshold: float,
    color_by: str,
    class_names: Sequence[str] | None,
    alpha: float,
    show_boxes: bool,
    show_labels: bool,
    contour_width: int,
    font_size: int,
) -> Tensor:
    if isinstance(instances, Prediction):
        instances = instances.cpu()
        keep, scores = instances.indices_above(score_threshold), instances.scores.float()
    elif "scores" in instances:
        raise TypeError("scored instances must be a blendmask Prediction; a dict is drawn as a target")
    elif "boxes" in instances:  # a ground-truth target: every instance, no scores
        instances = {
            key: value.detach().cpu() for key, value in instances.items() if isinstance(value, Tensor)
        }
        keep, scores = torch.arange(len(instances["boxes"])), None
    else:
        raise KeyError(f"a target dict needs 'boxes' (has: {sorted(instances)})")
    boxes = instances["boxes"].float()
    labels = instances.get("labels")
    labels = None if labels is None else labels.long()
    if len(keep) == 0:
        return image
    if color_by == "class" and labels is None:
        raise KeyError("color_by='class' needs 'labels' in the target dict")
    keys = keep.tolist() if color_by == "instance" else labels[keep].tolist()
    colors = [instance_color(int(key)) for key in keys]

    masks = instances.get("masks")
    if masks is not None:
        masks = masks.bool()
        if masks.shape[1:] != image.shape[1:]:
            raise ValueError(
                f"'masks' are {tuple(masks.shape[1:])} but the image is {tuple(image.shape[1:])}"
            )
        masks = masks[keep]
        palette = torch.tensor(colors, dtype=torch.uint8)  # (K, 3)
        image = fill_masks(image, masks, palette, alpha)
        top = _topmost(mask_outline(masks, contour_width))
        image = torch.where(top >= 0, palette[top.clamp_min(0)].permute(2, 0, 1), image)
    if show_boxes:
        texts = None
        if show_labels and labels is not None:
            texts = [
                _label_text(int(labels[d]), None if scores is None else float(scores[d]), class_names)
                for d in keep
            ]
        image = draw_bounding_boxes(
            image,
            boxes[keep],
            labels=texts,
            colors=colors,
            width=max(1, contour_width),
            font=FONT_PATH,
            font_size=font_size,
            label_colors=[_text_color(c) for c in colors],
            label_background_colors=colors,
            fill_labels=True,
        )
    return image


def draw_instances(
    image,
    instances: Prediction | Mapping,
    *,
    ground_truth: Mapping | None = None,
    score_threshold: float = 0.5,
    color_by: str = "instance",
    class_names: Sequence[str] | None = None,
    alpha: float = 0.45,
    show_boxes: bool = True,
    show_labels: bool = True,
    contour_width: int | None = None,
    font_size: int | None = None,
) -> np.ndarray:
    """Draw a :class:`Prediction` (boxes, scores, labels, masks) or a target dict (boxes, labels,
    masks) on ``image``; returns RGB uint8 (H, W, 3).

    Detections scoring below ``score_threshold`` are skipped (targets have no scores: all are
    drawn). Colours are deterministic: ``instance_color(i)`` for the i-th instance
    (``color_by="instance"``) or for its label (``"class"``). With ``ground_truth`` the result is
    ground truth | prediction side by side under a caption band, (H + band, 2W + gap, 3).
    Labels ("class score", class names when given) sit in each box's corner: they need
    ``show_boxes``. Contours trace every border of a mask, holes included.
    """
    if color_by not in COLOR_BY:
        raise ValueError(f"color_by must be one of {COLOR_BY}, got {color_by!r}")
    base = (to_image_tensor(image) * 255.0 + 0.5).to(torch.uint8)
    height, width = base.shape[1:]
    size = font_size or max(9, min(height, width) // 28)
    options = dict(
        color_by=color_by,
        class_names=class_names,
        alpha=alpha,
        show_boxes=show_boxes,
        show_labels=show_labels,
        contour_width=contour_width if contour_width is not None else max(1, min(height, width) // 256 + 1),
        font_size=size,
    )
    drawn = _draw_one(base.clone(), instances, score_threshold=score_threshold, **options)
    if ground_truth is None:
        return drawn.permute(1, 2, 0).numpy()
    truth = _draw_one(base.clone(), ground_truth, score_threshold=-float("inf"), **options)
    return _side_by_side(truth, drawn, ("ground truth", f"prediction (score ≥ {score_threshold:g})"), size)


def _side_by_side(left: Tensor, right: Tensor, captions: tuple[str, str], font_size: int) -> np.ndarray:
    height, width = left.shape[1:]
    band = font_size + 8
    canvas = Image.new("RGB", (2 * width + GAP, height + band), "white")
    canvas.paste(Image.fromarray(left.permute(1, 2, 0).numpy()), (0, band))
    canvas.paste(Image.fromarray(right.permute(1, 2, 0).numpy()), (width + GAP, band))
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.truetype(FONT_PATH, font_size)
    for x, caption in zip((0, width + GAP), captions, strict=True):
        draw.text((x + 2, 3), caption, fill=(40, 40, 40), font=font)
    return np.asarray(canvas)
