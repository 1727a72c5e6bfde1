"""PNG outputs of predictions: overlays and the paper's Figures 1 and 3, drawn by ``viz``."""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image

import viz
from viz.images import PNG_COMPRESS_LEVEL

from ..structures import Prediction


def upscaled(image: torch.Tensor, prediction: Prediction, factor: int) -> tuple[torch.Tensor, Prediction]:
    """``image`` (3,H,W) and its detections (boxes, scores, labels, masks) enlarged ``factor`` times for
    display: bilinear image, scaled boxes, nearest-neighbour masks (the intermediates are left out)."""
    if factor == 1:
        return image, prediction
    big = F.interpolate(image[None], scale_factor=factor, mode="bilinear", align_corners=False)[0].clamp(0, 1)
    masks = prediction.masks.repeat_interleave(factor, dim=1).repeat_interleave(factor, dim=2)
    return big, Prediction(
        boxes=prediction.boxes * factor, scores=prediction.scores, labels=prediction.labels, masks=masks
    )


def write_overlay(
    image: torch.Tensor,
    prediction: Prediction,
    path: str | Path,
    *,
    class_names: list[str],
    score_threshold: float = 0.5,
    min_side: int = 384,
) -> Path:
    """Instances (masks, boxes, ``class score``) over ``image`` (3,H,W) float 0..1 -> PNG at ``path``.

    Images whose shorter side is below ``min_side`` are enlarged by a whole factor first, so that
    labels stay legible on small images.
    """
    factor = max(1, math.ceil(min_side / min(image.shape[-2:])))
    image, shown = upscaled(image, prediction.above(score_threshold), factor)  # only the drawn ones
    drawn = viz.draw_instances(image, shown, class_names=class_names, score_threshold=score_threshold)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(drawn).save(path, compress_level=PNG_COMPRESS_LEVEL)
    return path


def write_figures(
    image: torch.Tensor,
    prediction: Prediction,
    out_dir: str | Path,
    *,
    class_names: list[str],
    prefix: str = "",
) -> list[Path]:
    """Figure 1 (the blending of the top-scoring detection) and Figure 3 (bases and attentions) as
    ``{prefix}figure1_blending.png`` and ``{prefix}figure3_bases.png`` in ``out_dir``.

    Returns the paths written; without any detection only Figure 3 is drawn.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    figures = []
    if len(prediction):
        top = int(prediction.scores.argmax())
        figure1 = viz.blending_figure(prediction, image, top, class_names=class_names)
        figures.append(("figure1_blending.png", figure1))
    figures.append(("figure3_bases.png", viz.bases_figure(prediction, image)))
    written = []
    for name, figure in figures:
        path = out_dir / f"{prefix}{name}"
        figure.savefig(path, dpi=120, bbox_inches="tight")
        written.append(path)
    return written
