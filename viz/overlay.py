"""Instances drawn on the image: filled masks, contours (holes kept), boxes and labels."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from matplotlib import font_manager
from PIL import Image, ImageDraw, ImageFont
from torch import Tensor
from torchvision.utils import draw_bounding_boxes, draw_segmentation_masks

from viz.colors import instance_color
from viz.images import as_image_tensor

COLOR_BY = ("instance", "class")
GAP = 6
FONT_PATH = font_manager.findfont("DejaVu Sans")


def _dilate(masks: Tensor, width: int) -> Tensor:
    """(N, H, W) bool grown by ``width`` px in x and y (a square structuring element), no wrap-around."""
    grown = masks.clone()
    for d in range(1, width + 1):
        grown[..., d:] |= masks[..., :-d]
        grown[..., :-d] |= masks[..., d:]
    rows = grown.clone()
    for d in range(1, width + 1):
        grown[..., d:, :] |= rows[..., :-d, :]
        grown[..., :-d, :] |= rows[..., d:, :]
    return grown


def mask_outline(masks: Tensor, width: int = 1) -> Tensor:
    """(N, H, W) bool -> the pixels within ``width`` of each mask's border, inner holes included."""
    if masks.numel() == 0:
        return masks.clone()
    return masks & _dilate(~masks, width)


def _paint(image: Tensor, regions: Tensor, colors: Sequence[tuple[int, int, int]]) -> Tensor:
    """``image`` (3, H, W) uint8 with region i (of (N, H, W) bool) set to colors[i]; later ones on top."""
    order = torch.arange(1, len(regions) + 1, dtype=torch.int32)[:, None, None]
    top = (regions * order).amax(dim=0)
    palette = torch.tensor([(0, 0, 0), *colors], dtype=torch.uint8)
    return torch.where(top > 0, palette[top.long()].permute(2, 0, 1), image)


def _text_color(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    luminance = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]
    return (0, 0, 0) if luminance > 150 else (255, 255, 255)


def _label_text(label: int, score: float | None, class_names: Sequence[str] | None) -> str:
    name = class_names[label] if class_names is not None and 0 <= label < len(class_names) else str(label)
    return name if score is None else f"{name} {score:.2f}"


def _draw_one(
    image: Tensor,
    instances: Mapping,
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
    if "boxes" not in instances:
        raise KeyError(f"instances dict needs 'boxes' (has: {sorted(instances)})")
    boxes = instances["boxes"].detach().cpu().float()
    labels = instances.get("labels")
    labels = None if labels is None else labels.detach().cpu().long()
    scores = instances.get("scores")
    scores = None if scores is None else scores.detach().cpu().float()
    keep = torch.arange(len(boxes)) if scores is None else torch.nonzero(scores >= score_threshold).flatten()
    if len(keep) == 0:
        return image
    if color_by == "class" and labels is None:
        raise KeyError("color_by='class' needs 'labels' in the instances dict")
    keys = keep.tolist() if color_by == "instance" else labels[keep].tolist()
    colors = [instance_color(int(key)) for key in keys]

    masks = instances.get("masks")
    if masks is not None:
        masks = masks.detach().cpu().bool()
        if masks.shape[1:] != image.shape[1:]:
            raise ValueError(
                f"'masks' are {tuple(masks.shape[1:])} but the image is {tuple(image.shape[1:])}"
            )
        masks = masks[keep]
        image = draw_segmentation_masks(image, masks, alpha=alpha, colors=colors)
        image = _paint(image, mask_outline(masks, contour_width), colors)
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
    instances: Mapping,
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
    """Draw a prediction dict (boxes, scores, labels, masks) or a target dict (boxes, labels,
    masks) on ``image``; returns RGB uint8 (H, W, 3).

    Detections scoring below ``score_threshold`` are skipped (targets have no scores: all are
    drawn). Colours are deterministic: ``instance_color(i)`` for the i-th entry of the dict
    (``color_by="instance"``) or for its label (``"class"``). With ``ground_truth`` the result is
    ground truth | prediction side by side under a caption band, (H + band, 2W + gap, 3).
    Labels ("class score", class names when given) sit in each box's corner: they need
    ``show_boxes``. Contours trace every border of a mask, holes included.
    """
    if color_by not in COLOR_BY:
        raise ValueError(f"color_by must be one of {COLOR_BY}, got {color_by!r}")
    base = (as_image_tensor(image) * 255.0 + 0.5).to(torch.uint8)
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
