"""Plotly figures for hover inspection: bases, one detection's attentions, training curves, AP per
category and a histogram of mask IoUs."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
from plotly.subplots import make_subplots

from blendmask.analysis.steps import blending_steps, num_detections, require_fields, top_bases
from blendmask.structures import Prediction
from viz.colors import basis_color, basis_colorscale
from viz.images import as_rgb_array, to_uint8

OFFLINE_RENDERER = "plotly_mimetype+blendmask_offline"


class OfflineNotebookRenderer(pio.base_renderers.NotebookRenderer):
    """plotly's "notebook" renderer (plotly.js embedded once per notebook, no CDN) whose figures
    also load no MathJax from a CDN; JupyterLab draws the plotly mimetype instead."""

    def __init__(self) -> None:
        super().__init__(connected=False)

    def to_mimebundle(self, fig_dict: dict) -> dict:
        html = pio.to_html(
            fig_dict,
            config=self.config,
            auto_play=self.auto_play,
            include_plotlyjs=False,
            include_mathjax=False,
            full_html=False,
            animation_opts=self.animation_opts,
            default_width="100%",
            default_height=525,
            validate=False,
        )
        return {"text/html": html}


def use_offline_renderer() -> None:
    """Make ``OFFLINE_RENDERER`` (plotly mimetype + ``OfflineNotebookRenderer``) plotly's default."""
    pio.renderers["blendmask_offline"] = OfflineNotebookRenderer()
    pio.renderers.default = OFFLINE_RENDERER


HOVER = "x=%{x:.0f}px y=%{y:.0f}px<br>%{z:.3g}<extra>%{fullData.name}</extra>"


def _basis_title(k: int) -> str:
    r, g, b = (round(255 * c) for c in basis_color(k))
    return f"<b style='color:rgb({r},{g},{b})'>basis {k + 1}</b>"


def _image_axes(fig: go.Figure) -> None:
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False, constrain="domain")
    fig.update_yaxes(
        showticklabels=False, showgrid=False, zeroline=False, autorange="reversed", constrain="domain"
    )
    fig.for_each_yaxis(lambda axis: axis.update(scaleanchor=axis.anchor))


def plotly_bases(prediction: Prediction, image=None, *, columns: int = 4) -> go.Figure:
    """One heatmap facet per basis (K, h, w), coordinates in original image px, value on hover;
    with ``image`` the first facet shows the image itself."""
    require_fields(prediction, ("bases", "scale", "blend_args"))
    bases = prediction.cpu().bases.float().numpy()
    stride = prediction.blend_args.stride
    scale_y, scale_x = prediction.scale
    xs = (np.arange(bases.shape[2]) + 0.5) * stride / scale_x
    ys = (np.arange(bases.shape[1]) + 0.5) * stride / scale_y
    panels = ([] if image is None else ["image"]) + list(range(bases.shape[0]))
    cols = min(columns, len(panels))
    rows = math.ceil(len(panels) / cols)
    titles = [p if p == "image" else _basis_title(p) for p in panels]
    fig = make_subplots(
        rows=rows, cols=cols, subplot_titles=titles, horizontal_spacing=0.02, vertical_spacing=0.08
    )
    for i, panel in enumerate(panels):
        row, col = i // cols + 1, i % cols + 1
        if panel == "image":
            fig.add_trace(go.Image(z=to_uint8(as_rgb_array(image)), name="image"), row=row, col=col)
            continue
        limit = max(float(np.abs(bases[panel]).max()), 1e-6)
        fig.add_trace(
            go.Heatmap(
                z=bases[panel],
                x=xs,
                y=ys,
                colorscale=basis_colorscale(panel),
                zmin=-limit,
                zmax=limit,
                showscale=False,
                name=f"basis {panel + 1}",
                hovertemplate=HOVER,
            ),
            row=row,
            col=col,
        )
    _image_axes(fig)
    fig.update_layout(
        title="Bases (hover for values)",
        height=260 * rows + 80,
        autosize=True,
        margin=dict(l=10, r=10, t=80, b=10),
    )
    return fig


def plotly_attention(prediction: Prediction, index: int, *, max_bases: int = 8) -> go.Figure:
    """Detection ``index``'s blending, faceted by basis (columns): the pre-softmax top-level
    attention (M x M; absent for the assembler), the soft-maxed weights s^k (R x R) and the
    products s^k * r^k (R x R), plus the summed mask logits; values on hover. A prediction without
    detections gives an empty figure that says so."""
    if num_detections(prediction) == 0:
        fig = go.Figure()
        fig.add_annotation(text="No detections in this prediction: nothing to blend.", showarrow=False)
        fig.update_layout(height=160, xaxis_visible=False, yaxis_visible=False)
        return fig
    steps = blending_steps(prediction, index)
    shown = top_bases(steps, max_bases)
    stages = ([] if steps.attention is None else ["attention"]) + ["weights", "products"]
    cols = len(shown) + 1
    # basis names head the columns, stage names label the rows: no title runs into its neighbour
    titles = [_basis_title(k) for k in shown] + [""] + [""] * (cols * (len(stages) - 2))
    titles += [""] * len(shown) + ["mask logits m"]
    fig = make_subplots(
        rows=len(stages), cols=cols, subplot_titles=titles, horizontal_spacing=0.015, vertical_spacing=0.09
    )
    hover = "i=%{y} j=%{x}<br>%{z:.3g}<extra>%{fullData.name}</extra>"
    products_limit = max(float(steps.products.abs().max()), 1e-6)
    for row, stage in enumerate(stages, start=1):
        for col, k in enumerate(shown, start=1):
            if stage == "weights":
                z, scale, bounds = steps.weights[k], basis_colorscale(k, signed=False), (0.0, 1.0)
            elif stage == "products":
                z, scale, bounds = steps.products[k], basis_colorscale(k), (-products_limit, products_limit)
            else:
                z = steps.attention[k]
                limit = max(float(z.abs().max()), 1e-6)
                scale, bounds = basis_colorscale(k), (-limit, limit)
            fig.add_trace(
                go.Heatmap(
                    z=z.numpy(),
                    colorscale=scale,
                    zmin=bounds[0],
                    zmax=bounds[1],
                    showscale=False,
                    name=f"basis {k + 1} {stage}",
                    hovertemplate=hover,
                ),
                row=row,
                col=col,
            )
    limit = max(float(steps.logits.abs().max()), 1e-6)
    fig.add_trace(
        go.Heatmap(
            z=steps.logits.numpy(),
            colorscale="RdBu",
            reversescale=True,
            zmin=-limit,
            zmax=limit,
            showscale=False,
            name="mask logits",
            hovertemplate=hover,
        ),
        row=len(stages),
        col=cols,
    )
    _image_axes(fig)
    row_names = {
        "attention": "attention (pre-softmax)",
        "weights": "weights s^k",
        "products": "products s^k r^k",
    }
    for row, stage in enumerate(stages, start=1):
        fig.update_yaxes(title_text=row_names[stage], title_font_size=11, row=row, col=1)
    fig.update_layout(
        title=f"Detection {index}: attention per basis ({steps.method})",
        height=230 * len(stages) + 80,
        autosize=True,
        margin=dict(l=40, r=10, t=80, b=10),
    )
    return fig


def read_metrics(path: str | Path) -> list[dict]:
    """Records of ``metrics.jsonl`` (a run folder or the file): one JSON object per line with "iter"."""
    path = Path(path)
    if path.is_dir():
        path = path / "metrics.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"no metrics file at {path}")
    records = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}:{number}: not valid JSON ({error.msg})") from error
        if not isinstance(record, dict) or "iter" not in record:
            raise ValueError(f"{path}:{number}: expected a JSON object with an 'iter' field")
        records.append(record)
    return records


def plotly_training_curves(
    metrics: str | Path | Sequence[Mapping], *, keys: Sequence[str] | None = None, log_y: bool = True
) -> go.Figure:
    """Loss curves against iteration (left axis) and the learning rate (right axis).

    ``metrics``: a run folder, a ``metrics.jsonl`` path or its records. ``keys`` defaults to
    every numeric key starting with "loss" plus "total_loss".
    """
    records = read_metrics(metrics) if isinstance(metrics, str | Path) else list(metrics)
    if keys is None:
        seen = dict.fromkeys(k for r in records for k in r)
        keys = [k for k in seen if (k.startswith("loss") or k == "total_loss")]
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    for key in keys:
        points = [(r["iter"], r[key]) for r in records if isinstance(r.get(key), int | float)]
        if points:
            x, y = zip(*points, strict=True)
            width = 2.5 if key == "total_loss" else 1.5
            fig.add_trace(
                go.Scatter(
                    x=x, y=y, mode=_mode(x), name=key, line=dict(width=width), hovertemplate="%{y:.4g}"
                ),
                secondary_y=False,
            )
    lr = [(r["iter"], r["lr"]) for r in records if isinstance(r.get("lr"), int | float)]
    if lr:
        x, y = zip(*lr, strict=True)
        fig.add_trace(
            go.Scatter(
                x=x,
                y=y,
                mode=_mode(x),
                name="lr",
                line=dict(dash="dot", color="gray"),
                hovertemplate="%{y:.2e}",
            ),
            secondary_y=True,
        )
    fig.update_xaxes(title_text="iteration")
    fig.update_yaxes(title_text="loss", type="log" if log_y else "linear", secondary_y=False)
    fig.update_yaxes(
        title_text="learning rate",
        secondary_y=True,
        showgrid=False,
        rangemode="tozero",
        tickformat=".1e",
    )
    fig.update_layout(
        title="Training curves",
        hovermode="x unified",
        height=420,
        autosize=True,
        legend=dict(orientation="h", x=0.0, y=1.02, xanchor="left", yanchor="bottom"),
        margin=dict(t=90),
    )
    return fig


def _mode(x: Sequence) -> str:
    """Lines, with markers when there are few points (a single logged iteration is still visible)."""
    return "lines+markers" if len(x) < 20 else "lines"


def plotly_category_ap(metrics: Mapping) -> go.Figure:
    """Grouped bars of mask and box AP (percent) per category of an evaluation's ``per_category``."""
    per_category = metrics["per_category"]
    names = list(per_category)
    fig = go.Figure(
        [
            go.Bar(name=f"{kind} AP", x=names, y=[100 * (per_category[n].get(kind) or 0) for n in names])
            for kind in ("segm", "bbox")
        ]
    )
    fig.update_layout(
        title="AP per category (%)", barmode="group", height=340, width=560, yaxis_range=[0, 100]
    )
    return fig


def plotly_iou_histogram(ious: Sequence[float]) -> go.Figure:
    """Histogram of mask IoUs (e.g. of the matches of an inspection) in bins of 0.05 over 0..1."""
    fig = go.Figure(go.Histogram(x=list(ious), xbins=dict(start=0, end=1.0001, size=0.05)))
    fig.update_layout(
        title=f"Mask IoU of {len(ious)} matches",
        xaxis_title="mask IoU",
        yaxis_title="matches",
        height=300,
        width=560,
        bargap=0.05,
    )
    return fig
