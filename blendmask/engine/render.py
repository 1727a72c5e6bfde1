"""PNG outputs of predictions: overlays and the paper's Figures 1 and 3, drawn by ``viz``.

``viz`` is imported inside the functions only: the model package does not depend on it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image


def _image_array(image: torch.Tensor) -> np.ndarray:
    """(3, H, W) float 0..1 -> (H, W, 3) uint8."""
    return (image.clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).cpu().numpy()).copy()


def write_overlay(
    image: torch.Tensor,
    prediction: dict[str, Any],
    path: str | Path,
    *,
    class_names: list[str],
    score_threshold: float,
) -> Path:
    """Instances (masks, boxes, ``class score``) drawn over ``image`` (3,H,W) -> PNG at ``path``."""
    import viz

    drawn = viz.draw_instances(
        _image_array(image), prediction, class_names=class_names, score_threshold=score_threshold
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(drawn).save(path)
    return path


def write_figures(
    image: torch.Tensor, prediction: dict[str, Any], out_dir: str | Path, *, prefix: str = ""
) -> list[Path]:
    """Figure 1 (the blending of the top-scoring instance) and Figure 3 (bases and attentions) as PNGs.

    Returns the paths written; with no detection only Figure 3 is written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import viz

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    array = _image_array(image)
    figures = []
    if prediction["scores"].numel():
        figures.append(
            (
                "figure1_blending.png",
                viz.blending_figure(prediction, array, int(prediction["scores"].argmax())),
            )
        )
    figures.append(("figure3_bases.png", viz.bases_figure(prediction, array)))
    written = []
    for name, figure in figures:
        path = out_dir / f"{prefix}{name}"
        figure.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(figure)
        written.append(path)
    return written
