"""Figures of the merge comparison (the paper's Table 1, ``blendmask.analysis.merge_comparison``):
mask AP here and in the paper, the variants' loss curves, the models side by side and the
oracle-attention probe against the attention size M."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence

from matplotlib.figure import Figure

from blendmask.analysis.merge_comparison import PAPER_TABLE1, VariantRun
from blendmask.config import METHODS, BlendMaskConfig
from viz.attention_map import attention_overlay
from viz.overlay import draw_instances
from viz.plotly_views import read_metrics

METHOD_COLORS = {"blender": "tab:blue", "weighted_sum": "tab:orange", "assembler": "tab:green"}
TITLE_SIZE = 9


def _methods(runs: Sequence[VariantRun]) -> list[str]:
    """The methods of ``runs`` in ``METHODS`` order, then any other in first-seen order."""
    seen = list(dict.fromkeys(run.method for run in runs))
    return [m for m in METHODS if m in seen] + [m for m in seen if m not in METHODS]


def table1_figure(
    runs: Sequence[VariantRun], paper: Mapping[str, Mapping[str, float]] = PAPER_TABLE1
) -> Figure:
    """Two bar charts of mask AP per method: here (bar: mean over seeds, dots: each seed) and in the
    paper (``paper[method]["AP"]``, percent)."""
    methods = _methods(runs)
    seeds = sorted({run.seed for run in runs})
    fig = Figure(figsize=(8.5, 2.8), layout="tight")
    here, theirs = fig.subplots(1, 2)
    for x, method in enumerate(methods):
        values = [100 * (run.metrics["segm"]["AP"] or 0.0) for run in runs if run.method == method]
        colour = METHOD_COLORS.get(method, "tab:gray")
        here.bar(x, statistics.fmean(values), color=colour, alpha=0.6)
        here.scatter([x] * len(values), values, color="black", s=14, zorder=3)
        if method in paper:
            theirs.bar(x, paper[method]["AP"], color=colour, alpha=0.6)
    for ax, title in ((here, f"here: mean of seeds {tuple(seeds)} (dots: each seed)"), (theirs, "paper")):
        ax.set_xticks(range(len(methods)), methods)
        ax.set_ylabel("mask AP")
        ax.set_title(title, fontsize=TITLE_SIZE)
    known = [paper[m]["AP"] for m in methods if m in paper]
    if known:
        theirs.set_ylim(min(known) - 5, max(known) + 1.5)
    return fig


def variant_losses_figure(runs: Sequence[VariantRun]) -> Figure:
    """Mask loss and total loss against iteration for every run (read from its ``metrics.jsonl``):
    one colour per method, a solid line for the first seed and dashed for the others."""
    first_seed = min(run.seed for run in runs)
    fig = Figure(figsize=(9, 2.8), layout="tight")
    mask_ax, total_ax = fig.subplots(1, 2)
    for run in runs:
        records = [r for r in read_metrics(run.checkpoint.parent) if "loss_mask" in r]
        iters = [r["iter"] for r in records]
        style = dict(color=METHOD_COLORS.get(run.method), ls="-" if run.seed == first_seed else "--", lw=1.2)
        mask_ax.plot(iters, [r["loss_mask"] for r in records], label=f"{run.method} s{run.seed}", **style)
        total_ax.plot(iters, [r["total_loss"] for r in records], **style)
    mask_ax.set_title("mask loss (BCE in the GT box)", fontsize=TITLE_SIZE)
    total_ax.set_title("total loss", fontsize=TITLE_SIZE)
    for ax in (mask_ax, total_ax):
        ax.set_xlabel("iteration")
    mask_ax.legend(fontsize=7, ncol=2)
    return fig


def merge_grid_figure(
    images: Sequence,
    targets: Sequence[Mapping],
    predictions: Mapping[str, Sequence[Mapping]],
    *,
    class_names: Sequence[str] | None = None,
    score_threshold: float = 0.5,
    rows: int = 3,
) -> Figure:
    """The first ``rows`` images: ground truth, then each model's instance masks (detections scoring
    at least ``score_threshold``), with the blender's attention projected onto the image next to it.
    ``predictions``: per model, one prediction per image."""
    columns: list[tuple[str, object]] = [("ground truth", None)]
    for name, found in predictions.items():
        columns.append((name, found))
        if found and found[0].blend_args is not None and found[0].blend_args.method == "blender":
            columns.append((f"{name} attention", found))
    rows = min(rows, len(images))
    fig = Figure(figsize=(2.0 * len(columns), 2.1 * rows + 0.3), layout="tight")
    axes = fig.subplots(rows, len(columns), squeeze=False)
    for i in range(rows):
        for ax, (title, found) in zip(axes[i], columns, strict=True):
            if found is None:
                panel = draw_instances(images[i], targets[i], class_names=class_names)
            elif title.endswith(" attention"):
                panel = attention_overlay(found[i], images[i], score_threshold=score_threshold)
            else:
                panel = draw_instances(
                    images[i], found[i], score_threshold=score_threshold, class_names=class_names
                )
            ax.imshow(panel)
            ax.axis("off")
            if i == 0:
                ax.set_title(title, fontsize=TITLE_SIZE)
    fig.suptitle(f"first validation images, detections scoring >= {score_threshold}", fontsize=TITLE_SIZE)
    return fig


def oracle_figure(
    summary: Mapping[str, Mapping[str, float]], configs: Mapping[str, BlendMaskConfig]
) -> Figure:
    """Mean mask IoU in the box of the oracle attention against M (one line per model) and of each
    model's own prediction at its own M (a star); ``summary`` from ``summarize_probes``."""
    sizes = sorted({int(key[2:]) for row in summary.values() for key in row if key.startswith("M=")})
    fig = Figure(figsize=(7.0, 3.0), layout="tight")
    ax = fig.subplots()
    for method, row in summary.items():
        if not row.get("n"):
            continue
        colour = METHOD_COLORS.get(method)
        own = [m for m in sizes if f"M={m}" in row]
        ax.plot(own, [row[f"M={m}"] for m in own], "o-", color=colour, label=f"{method}: oracle")
        ax.scatter(
            [configs[method].attn_size],
            [row["predicted"]],
            marker="*",
            s=140,
            color=colour,
            edgecolor="black",
            zorder=3,
            label=f"{method}: predicted",
        )
    ax.set_xscale("log", base=2)
    if sizes:
        ax.set_xticks(sizes, [str(m) for m in sizes])
    ax.set_xlabel("attention size M")
    ax.set_ylabel("mean mask IoU in the box")
    ax.set_title("best attention on each model's own bases vs its prediction", fontsize=TITLE_SIZE)
    if ax.lines:
        ax.legend(fontsize=9, loc="center left", bbox_to_anchor=(1.02, 0.5))
    return fig
