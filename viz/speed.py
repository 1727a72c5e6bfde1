"""Figures of a side-by-side speed result (``blendmask.analysis.speed.compare_speed``)."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

LABELS = {
    "blendmask": "BlendMask (float32)",
    "blendmask_fast": "BlendMask (fast path)",
    "maskrcnn": "Mask R-CNN R50-FPN (float32)",
}
STAGE_COLORS = {
    "backbone_fpn": "#9e9e9e",
    "heads": "#4c72b0",
    "rpn": "#4c72b0",
    "detect": "#64b5cd",
    "box_head": "#64b5cd",
    "bottom": "#8172b2",
    "blender": "#dd8452",
    "mask_head": "#dd8452",
    "paste": "#c44e52",
}


def speed_figure(result: dict[str, Any], *, key: str = "wall_s") -> Figure:
    """Two panels over D: end-to-end seconds per image, and the per-instance mask stage
    (BlendMask blender + paste vs Mask R-CNN mask head + paste). ``key``: "wall_s" or "cpu_s"."""
    from blendmask.analysis.speed import MASK_STAGE

    detections = result["settings"]["detections"]
    fig, (total, mask) = plt.subplots(1, 2, figsize=(10, 3.8), constrained_layout=True)
    for name, runs in result["models"].items():
        runs = [runs[str(d)] for d in detections]
        total.plot(detections, [r["end_to_end"][key] for r in runs], marker="o", label=LABELS.get(name, name))
        stages = MASK_STAGE["maskrcnn" if name == "maskrcnn" else "blendmask"]
        mask.plot(
            detections,
            [1000 * sum(r["stages"][s][key] for s in stages) for r in runs],
            marker="o",
            label=LABELS.get(name, name),
        )
    unit = "wall" if key == "wall_s" else "CPU"
    settings = result["settings"]
    total.set(xlabel="detections D", ylabel=f"{unit} seconds / image", title="end to end")
    mask.set(xlabel="detections D", ylabel=f"{unit} ms / image", title="per-instance mask stage")
    total.set_ylim(bottom=0)
    mask.set_ylim(bottom=0)
    total.legend(fontsize=8)
    fig.suptitle(
        f"{settings['preset']} vs Mask R-CNN, {settings['size']} px, {settings['threads']} threads, "
        f"{settings['device']}, median of {settings['repeats']}",
        fontsize=10,
    )
    return fig


def stages_figure(result: dict[str, Any], detections: int, *, key: str = "wall_s") -> Figure:
    """Horizontal stacked bars: each model's stages at ``detections`` D."""
    runs = {name: runs[str(detections)] for name, runs in result["models"].items()}
    fig, ax = plt.subplots(figsize=(10, 0.7 + 0.6 * len(runs)), constrained_layout=True)
    seen: set[str] = set()
    for row, run in enumerate(runs.values()):
        left = 0.0
        for stage, times in run["stages"].items():
            width = times[key]
            label = None if stage in seen else stage
            seen.add(stage)
            ax.barh(row, width, left=left, color=STAGE_COLORS.get(stage), edgecolor="white", label=label)
            if width > 0.04 * run["stage_sum_wall_s"]:
                ax.text(left + width / 2, row, stage, ha="center", va="center", fontsize=7, color="white")
            left += width
    ax.set_yticks(range(len(runs)), [LABELS.get(name, name) for name in runs])
    ax.invert_yaxis()
    ax.set_xlabel(f"{'wall' if key == 'wall_s' else 'CPU'} seconds / image at D = {detections}")
    ax.legend(fontsize=7, ncols=5, loc="lower right")
    return fig
