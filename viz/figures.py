"""The paper's Figure 1 (blending process) and Figure 3 (bases and attentions) as matplotlib Figures.

Both return a ``matplotlib.figure.Figure`` (no pyplot state, works headless); basis k is drawn
in ``basis_color(k)`` everywhere: signed maps go grey (negative) -> white (0) -> basis colour.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle

from blendmask.analysis.steps import (
    BlendingSteps,
    blending_steps,
    crop_in_box,
    num_detections,
    require_fields,
    top_bases,
)
from blendmask.data import to_image_tensor
from blendmask.structures import Prediction
from viz.attention_map import attention_overlay, select_instances
from viz.colors import attention_mixture, basis_cmap, basis_color, instance_color

TITLE_SIZE = 9


def _bare(ax: Axes, edge=None) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        if edge is not None:
            spine.set_edgecolor(edge)
            spine.set_linewidth(1.6)


def _symmetric_limit(*arrays: np.ndarray) -> float:
    return max(max(float(np.abs(a).max()) for a in arrays if a.size) if arrays else 0.0, 1e-6)


def _class_text(label: int, score: float, class_names: Sequence[str] | None) -> str:
    name = (
        class_names[label] if class_names is not None and 0 <= label < len(class_names) else f"class {label}"
    )
    return name if math.isnan(score) else f"{name} {score:.2f}"


def blending_figure(
    prediction: Prediction,
    image,
    index: int,
    *,
    scales: Sequence[float] | None = None,
    max_bases: int = 8,
    mask_threshold: float = 0.5,
    class_names: Sequence[str] | None = None,
    panel_size: float = 1.45,
) -> Figure:
    """Figure 1 for detection ``index``: bases (row 1) ⊗ attentions (row 2) = products (row 3),
    summed ⊕ into the mask logits, then sigmoid and threshold to the mask.

    The first column shows the image with the detection's box, the attention as a mixture of
    basis colours, and the image cropped to the box. ``scales`` multiplies each basis' weight
    (0 = basis off). With more than ``max_bases`` bases only the largest contributors are drawn.
    Axes: 3 * (shown bases + 2); a prediction without detections gives a one-line message figure.
    """
    if num_detections(prediction) == 0:
        return no_detections_figure("Figure 1 needs a detection")
    steps = blending_steps(prediction, index, mask_threshold=mask_threshold)
    if scales is not None:
        steps = steps.scaled(scales)
    rgb = to_image_tensor(image)
    shown = top_bases(steps, max_bases)
    columns = len(shown) + 2
    wspace, hspace = 0.55, 0.5
    fig = Figure(figsize=(panel_size * columns * 1.3, panel_size * 3 * 1.3 + 0.6), layout=None)
    grid = fig.add_gridspec(
        3, columns, left=0.05, right=0.98, top=0.84, bottom=0.07, wspace=wspace, hspace=hspace
    )
    colour = np.array(instance_color(index)) / 255.0

    _draw_context_column(fig, grid, steps, rgb, prediction.masks, colour, class_names)
    _draw_basis_columns(fig, grid, steps, shown, wspace, hspace)
    _draw_mask_column(fig, grid, steps, rgb, colour, columns - 1)

    attn = "fixed one-hot tiles" if steps.attention is None else f"M={steps.attention.shape[-1]}"
    fig.suptitle(
        f"Blending detection {index} ({steps.method}): K={steps.num_bases}, {attn}, R={steps.resolution}",
        fontsize=11,
    )
    return fig


def no_detections_figure(what: str) -> Figure:
    """A small figure that says the prediction holds no detections (an untrained or unsure model)."""
    fig = Figure(figsize=(6.0, 0.8), layout=None)
    fig.text(
        0.5,
        0.5,
        f"No detections in this prediction: {what}. Train the model longer or lower its score threshold "
        "(cfg.fcos_score_thresh).",
        ha="center",
        va="center",
        fontsize=9,
        wrap=True,
    )
    return fig


def _draw_context_column(fig, grid, steps: BlendingSteps, rgb, masks, colour, class_names) -> None:
    ax = fig.add_subplot(grid[0, 0])
    ax.imshow(rgb.permute(1, 2, 0).numpy())
    x0, y0, x1, y1 = steps.box.tolist()
    ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, edgecolor=colour, linewidth=1.8))
    if masks is not None and bool(masks[steps.index].any()):
        ax.contour(masks[steps.index].float().numpy(), levels=[0.5], colors=[colour], linewidths=1.0)
    ax.set_title(_class_text(steps.label, steps.score, class_names), fontsize=TITLE_SIZE)
    _bare(ax)

    ax = fig.add_subplot(grid[1, 0])
    ax.imshow(attention_mixture(steps.weights.numpy()), interpolation="nearest")
    ax.set_title("attention mix", fontsize=TITLE_SIZE)
    _bare(ax)

    ax = fig.add_subplot(grid[2, 0])
    ax.imshow(crop_in_box(rgb, steps.box, steps.resolution).permute(1, 2, 0).clamp(0, 1).numpy())
    ax.set_title("image in box", fontsize=TITLE_SIZE)
    _bare(ax, edge=colour)


def _draw_basis_columns(
    fig, grid, steps: BlendingSteps, shown: list[int], wspace: float, hspace: float
) -> None:
    single = steps.num_bases == 1
    rois, weights, products = steps.rois.numpy(), steps.weights.numpy(), steps.products.numpy()
    roi_limit = _symmetric_limit(*(rois[k] for k in shown))
    product_limit = _symmetric_limit(*(products[k] for k in shown))
    row_names = (
        ("basis $r$", r"$\sigma(a)$", r"$\sigma(r)\,\sigma(a)$")
        if single
        else ("bases $r^k$", "attention $s^k$", r"$s^k \circ r^k$")
    )
    hidden = steps.num_bases - len(shown)
    for column, k in enumerate(shown, start=1):
        edge = basis_color(k)
        scale = steps.scales[k]
        fade = 1.0 if scale != 0 else 0.25
        ax_r = fig.add_subplot(grid[0, column])
        ax_r.imshow(rois[k], cmap=basis_cmap(k), vmin=-roi_limit, vmax=roi_limit, alpha=fade)
        state = "" if scale == 1 else (" off" if scale == 0 else f" ×{scale:g}")
        ax_r.set_title(f"basis {k + 1}{state}", fontsize=TITLE_SIZE, color=edge, fontweight="bold")
        ax_r.annotate(
            r"$\otimes$", (0.5, -hspace / 2), xycoords="axes fraction", ha="center", va="center", fontsize=15
        )
        ax_s = fig.add_subplot(grid[1, column])
        ax_s.imshow(
            weights[k],
            cmap=basis_cmap(k, signed=False),
            vmin=0.0,
            vmax=1.0,
            alpha=fade,
            interpolation="nearest",
        )
        ax_s.annotate(
            "$=$", (0.5, -hspace / 2), xycoords="axes fraction", ha="center", va="center", fontsize=15
        )
        ax_p = fig.add_subplot(grid[2, column])
        if single:
            ax_p.imshow(products[k], cmap=basis_cmap(k, signed=False), vmin=0.0, vmax=1.0, alpha=fade)
        else:
            ax_p.imshow(products[k], cmap=basis_cmap(k), vmin=-product_limit, vmax=product_limit, alpha=fade)
        last = column == len(shown)
        sign = (r"$\oplus\cdots\!=$" if hidden else "$=$") if last else r"$\oplus$"
        ax_p.annotate(
            sign,
            (1.0 + wspace / 2, 0.5),
            xycoords="axes fraction",
            ha="center",
            va="center",
            fontsize=12 if last and hidden else 15,
        )
        for ax in (ax_r, ax_s, ax_p):
            _bare(ax, edge=edge)
        if column == 1:
            for ax, name in zip((ax_r, ax_s, ax_p), row_names, strict=True):
                ax.set_ylabel(name, fontsize=TITLE_SIZE)
    if hidden:
        fig.text(
            0.5,
            0.01,
            f"{hidden} smaller contributions not drawn (their sum is in the logits)",
            ha="center",
            fontsize=8,
            color="0.3",
        )


def _draw_mask_column(fig, grid, steps: BlendingSteps, rgb, colour, column: int) -> None:
    logits, probs, mask = steps.logits.numpy(), steps.probs.numpy(), steps.mask.numpy()
    ax = fig.add_subplot(grid[2, column])
    limit = _symmetric_limit(logits)
    ax.imshow(logits, cmap="RdBu_r", vmin=-limit, vmax=limit)
    ax.set_xlabel("logit of product" if steps.num_bases == 1 else "mask logits $m$", fontsize=TITLE_SIZE)
    _bare(ax)
    ax = fig.add_subplot(grid[1, column])
    ax.imshow(probs, cmap="magma", vmin=0.0, vmax=1.0)
    ax.set_xlabel(r"$\uparrow\;\sigma(m)$", fontsize=TITLE_SIZE)
    _bare(ax)
    ax = fig.add_subplot(grid[0, column])
    ax.imshow(crop_in_box(rgb, steps.box, steps.resolution).permute(1, 2, 0).clamp(0, 1).numpy())
    overlay = np.zeros((*mask.shape, 4))
    overlay[mask] = (*colour, 0.55)
    ax.imshow(overlay, interpolation="nearest")
    if 0 < mask.sum() < mask.size:
        ax.contour(probs, levels=[steps.mask_threshold], colors=[colour], linewidths=1.2)
    ax.set_xlabel(rf"$\uparrow\;\sigma(m)\geq{steps.mask_threshold:g}$", fontsize=TITLE_SIZE)
    ax.set_title("mask", fontsize=TITLE_SIZE)
    _bare(ax, edge=colour)


def bases_figure(
    prediction: Prediction,
    image,
    *,
    instances: int | Sequence[int] | None = None,
    score_threshold: float = 0.3,
    region: str = "mask",
    panel_size: float = 1.8,
) -> Figure:
    """Figure 3: the K full-image bases, each in its basis colour (signed), and the top-level
    attentions of the chosen detections projected into their boxes on the image, each position
    coloured by the soft-maxed attention's mixture of basis colours.

    ``instances``: None = all detections with score >= ``score_threshold``, or an index / list.
    Axes: K + 1.
    """
    require_fields(prediction, ("bases", "scale", "blend_args"))
    rgb = to_image_tensor(image)
    height, width = rgb.shape[-2:]
    bases = prediction.cpu().bases.float().numpy()
    num_bases = bases.shape[0]
    stride = prediction.blend_args.stride
    scale_y, scale_x = prediction.scale
    extent = (0.0, bases.shape[2] * stride / scale_x, bases.shape[1] * stride / scale_y, 0.0)

    rows = max(1, math.isqrt(num_bases))
    cols = math.ceil(num_bases / rows)
    aspect = height / width
    fig = Figure(
        figsize=(panel_size * (cols + rows) * 1.15, panel_size * aspect * rows * 1.2 + 0.9), layout=None
    )
    grid = fig.add_gridspec(
        rows,
        cols + 1,
        width_ratios=[1.0] * cols + [float(rows)],
        left=0.02,
        right=0.98,
        top=0.86,
        bottom=0.1 if num_bases <= 10 else 0.03,
        wspace=0.08,
        hspace=0.2,
    )
    for k in range(num_bases):
        ax = fig.add_subplot(grid[k // cols, k % cols])
        limit = _symmetric_limit(bases[k])
        ax.imshow(
            bases[k], cmap=basis_cmap(k), vmin=-limit, vmax=limit, extent=extent, interpolation="bilinear"
        )
        ax.set_xlim(0, width)
        ax.set_ylim(height, 0)
        ax.set_title(
            f"basis {k + 1}  (±{limit:.2g})", fontsize=TITLE_SIZE, color=basis_color(k), fontweight="bold"
        )
        _bare(ax, edge=basis_color(k))

    chosen = select_instances(prediction, instances, score_threshold=score_threshold)
    ax = fig.add_subplot(grid[:, cols])
    ax.imshow(attention_overlay(prediction, rgb, instances=chosen, region=region))
    for d in chosen:
        x0, y0, x1, y1 = prediction.boxes[d].tolist()
        ax.add_patch(
            Rectangle(
                (x0, y0), x1 - x0, y1 - y0, fill=False, edgecolor="white", linewidth=0.8, linestyle="--"
            )
        )
    what = "no detections" if not chosen else f"{len(chosen)} detection{'s' if len(chosen) > 1 else ''}"
    ax.set_title(f"top-level attention, {what}", fontsize=TITLE_SIZE)
    _bare(ax)
    if num_bases <= 10:
        handles = [Patch(color=basis_color(k), label=f"basis {k + 1}") for k in range(num_bases)]
        fig.legend(handles=handles, loc="lower center", ncol=num_bases, fontsize=8, frameon=False)
    fig.suptitle("Bases (left) and attentions projected onto the image (right)", fontsize=11)
    return fig
