"""Top-level attentions projected back onto the image (the right half of the paper's Figure 3)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from blendmask.analysis.steps import blending_steps
from blendmask.data import to_image_tensor
from blendmask.structures import Prediction
from viz.colors import attention_mixture
from viz.images import paste_window

REGIONS = ("mask", "box")


def select_instances(
    prediction: Prediction, instances: int | Sequence[int] | None = None, *, score_threshold: float = 0.3
) -> list[int]:
    """Detection indices to show, lowest score first (so the best is drawn on top).

    ``instances`` None = every detection scoring >= ``score_threshold``; an int or a sequence
    picks detections regardless of their score.
    """
    total = len(prediction)
    if instances is None:
        chosen = prediction.indices_above(score_threshold).tolist()
    else:
        chosen = [instances] if isinstance(instances, int) else list(instances)
        bad = [d for d in chosen if not 0 <= d < total]
        if bad:
            raise IndexError(f"detection indices {bad} out of range for {total} detections")
    chosen.sort(key=lambda d: float(prediction.scores[d]))
    return chosen


def attention_overlay(
    prediction: Prediction,
    image,
    *,
    instances: int | Sequence[int] | None = None,
    score_threshold: float = 0.3,
    region: str = "mask",
    opacity: float = 0.9,
) -> np.ndarray:
    """(H, W, 3) float RGB: the image dimmed to grey, and inside each chosen detection the
    soft-maxed attention drawn as the mixture of basis colours, pasted into its box.

    ``region="mask"`` fades the colours with the mask probability sigmoid(m); ``"box"`` fills
    the whole box (the attention's full extent).
    """
    if region not in REGIONS:
        raise ValueError(f"region must be one of {REGIONS}, got {region!r}")
    rgb = to_image_tensor(image)
    height, width = rgb.shape[-2:]
    gray = (0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2])[None]
    canvas = (0.12 + 0.45 * gray).expand(3, -1, -1).clone()
    for d in select_instances(prediction, instances, score_threshold=score_threshold):
        steps = blending_steps(prediction, d)
        colours = torch.from_numpy(attention_mixture(steps.weights.numpy())).permute(2, 0, 1).float()
        amount = steps.probs[None] if region == "mask" else torch.ones_like(steps.logits)[None]
        window = paste_window(torch.cat([colours, amount]), steps.box, (height, width))
        if window is None:
            continue
        rows, cols, pasted = window  # blended only inside the box: the cost follows the box sizes
        alpha = opacity * pasted[3:].clamp(0.0, 1.0)
        canvas[:, rows, cols] = canvas[:, rows, cols] * (1.0 - alpha) + pasted[:3] * alpha
    return canvas.permute(1, 2, 0).numpy()
