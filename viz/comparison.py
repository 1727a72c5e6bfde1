"""MergeComparison: one image through several models (blender / weighted sum / assembler) side by side."""

from __future__ import annotations

import html
import numbers
from collections.abc import Mapping, Sequence

import ipywidgets as widgets
import numpy as np
from PIL import Image

from blendmask.data import to_image_tensor
from blendmask.engine.predict import predict_image
from blendmask.structures import Prediction
from viz.attention_map import attention_overlay
from viz.images import png_bytes, to_uint8
from viz.overlay import draw_instances
from viz.panels import stack, text_picture
from viz.snapshot import bundle_with_picture


def _flatten(metrics: Mapping, prefix: str = "") -> dict[str, float]:
    flat = {}
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{name}/"))
        elif isinstance(value, numbers.Real) and not isinstance(value, bool):
            flat[name] = float(value)
    return flat


def _percent_rows(metrics: Mapping[str, Mapping], fractions: bool) -> dict[str, dict[str, float]]:
    factor = 100.0 if fractions else 1.0
    return {name: {k: factor * v for k, v in _flatten(values).items()} for name, values in metrics.items()}


def metrics_table(metrics: Mapping[str, Mapping], *, fractions: bool = False) -> str:
    """HTML table, one row per model, one column per numeric metric (nested dicts flattened to
    "a/b"), in percent with one decimal; the best value of each column in bold.

    ``fractions``: the values are in 0..1 (pycocotools' AP) and are shown x100."""
    rows = _percent_rows(metrics, fractions)
    columns = list(dict.fromkeys(key for values in rows.values() for key in values))
    best = {c: max(v[c] for v in rows.values() if c in v) for c in columns}
    head = "".join(f"<th>{html.escape(c)} (%)</th>" for c in columns)
    body = ""
    for name, values in rows.items():
        cells = ""
        for column in columns:
            value = values.get(column)
            text = "–" if value is None else f"{value:.1f}"
            cells += (
                f"<td><b>{text}</b></td>"
                if value is not None and value == best[column]
                else f"<td>{text}</td>"
            )
        body += f"<tr><th style='text-align:left'>{html.escape(name)}</th>{cells}</tr>"
    return f"<table><tr><th>model</th>{head}</tr>{body}</table>"


def metrics_text(metrics: Mapping[str, Mapping], *, fractions: bool = False) -> str:
    """``metrics_table`` as monospaced text (for the widget's static picture)."""
    rows = _percent_rows(metrics, fractions)
    columns = list(dict.fromkeys(key for values in rows.values() for key in values))
    width = max(len(name) for name in rows) + 2
    lines = ["model".ljust(width) + "".join(f"{c + ' (%)':>16}" for c in columns)]
    for name, values in rows.items():
        cells = "".join(f"{'–' if values.get(c) is None else format(values[c], '.1f'):>16}" for c in columns)
        lines.append(name.ljust(width) + cells)
    return "\n".join(lines)


def _describe(prediction: Prediction) -> str:
    settings = prediction.blend_args
    if settings is None:
        return "?"
    return (
        f"{settings.method}, K={prediction.bases.shape[0]}, M={settings.attn_size}, R={settings.resolution}"
    )


class MergeComparison:
    """The same image through several models, side by side: instance masks for every model and,
    for blender models, the attentions projected onto the image (Figure 3 style). ``metrics``
    ({name: {metric: value}}, e.g. each model's evaluation result; in percent, or pass
    ``fractions=True``) adds an AP table.

    Drive it through ``image_select.value`` and ``score_slider.value``; ``predictions`` holds
    the current image's Prediction per model, ``mask_panels`` / ``attention_panels`` the
    rendered PNGs, all ``panel_width`` px wide. Each model runs once per image and each panel is
    drawn once per (image, score threshold). Saved in a notebook, it leaves a PNG of its panels
    next to the widget view.
    """

    def __init__(
        self,
        models: Mapping[str, object],
        images: Sequence,
        *,
        metrics: Mapping[str, Mapping] | None = None,
        fractions: bool = False,
        class_names: Sequence[str] | None = None,
        score_threshold: float = 0.5,
        panel_width: int = 300,
    ) -> None:
        if not models:
            raise ValueError("MergeComparison needs at least one model")
        if len(images) == 0:
            raise ValueError("MergeComparison needs at least one image")
        self.models = dict(models)
        self.images = [to_image_tensor(image) for image in images]
        self.class_names = class_names
        self.panel_width = panel_width
        self.metrics_text = metrics_text(metrics, fractions=fractions) if metrics else ""
        self._cache: dict[tuple[str, int], Prediction] = {}
        self._drawn: dict[tuple[str, int, float], tuple[np.ndarray, np.ndarray | None]] = {}
        self.predictions: dict[str, Prediction] = {}
        self.image_select = widgets.Dropdown(
            options=[(f"image {i}", i) for i in range(len(self.images))], value=0, description="image"
        )
        self.score_slider = widgets.FloatSlider(
            value=score_threshold, min=0.0, max=1.0, step=0.01, description="score ≥", continuous_update=False
        )
        width = f"{panel_width}px"
        self.titles = {name: widgets.HTML(layout=widgets.Layout(width=width)) for name in self.models}
        self.mask_panels = {
            name: widgets.Image(format="png", layout=widgets.Layout(width=width)) for name in self.models
        }
        self.attention_panels: dict[str, widgets.Image] = {}
        self.table = widgets.HTML(metrics_table(metrics, fractions=fractions) if metrics else "")
        self.columns = widgets.HBox(layout=widgets.Layout(align_items="flex-start"))
        self.widget = widgets.VBox(
            [widgets.HBox([self.image_select, self.score_slider]), self.columns, self.table]
        )
        self.image_select.observe(lambda _: self._update(), "value")
        self.score_slider.observe(lambda _: self._update(), "value")
        self._update()

    def _predict(self, name: str) -> Prediction:
        key = (name, self.image_select.value)
        if key not in self._cache:
            self._cache[key] = predict_image(self.models[name], self.images[self.image_select.value])
        return self._cache[key]

    def _draw(self, name: str) -> tuple[np.ndarray, np.ndarray | None]:
        """(mask picture, attention picture or None) of model ``name`` for the current controls."""
        key = (name, self.image_select.value, self.score_slider.value)
        if key not in self._drawn:
            pred, image = self._predict(name), self.images[self.image_select.value]
            threshold = self.score_slider.value
            masks = draw_instances(image, pred, score_threshold=threshold, class_names=self.class_names)
            attention = None
            if pred.blend_args is not None and pred.blend_args.method == "blender":
                attention = to_uint8(attention_overlay(pred, image, score_threshold=threshold))
            self._drawn[key] = (masks, attention)
        return self._drawn[key]

    def _update(self) -> None:
        columns = []
        for name in self.models:
            pred = self._predict(name)
            self.predictions[name] = pred
            self.titles[name].value = f"<b>{html.escape(name)}</b> <small>({_describe(pred)})</small>"
            masks, attention = self._draw(name)
            self.mask_panels[name].value = png_bytes(masks)
            children = [self.titles[name], self.mask_panels[name]]
            if attention is not None:
                layout = widgets.Layout(width=f"{self.panel_width}px")
                panel = self.attention_panels.setdefault(name, widgets.Image(format="png", layout=layout))
                panel.value = png_bytes(attention)
                children.append(panel)
            columns.append(tuple(children))
        if [tuple(c.children) for c in self.columns.children] != columns:
            self.columns.children = [widgets.VBox(list(children)) for children in columns]

    def picture(self) -> np.ndarray:
        """(H, W, 3) uint8 of the current view: one column per model (title, masks, attentions),
        every panel ``panel_width`` px wide, and the metrics table below."""
        columns = []
        for name in self.models:
            masks, attention = self._draw(name)
            parts = [text_picture(f"{name}\n({_describe(self.predictions[name])})")]
            parts += [_fit_width(p, self.panel_width) for p in (masks, attention) if p is not None]
            columns.append(stack(parts, gap=4))
        width = max(column.shape[1] for column in columns)  # every column as wide: even spacing
        columns = [stack([column, np.full((1, width, 3), 255, np.uint8)], gap=0) for column in columns]
        rows = [stack(columns, axis=1, gap=10)]
        if self.metrics_text:
            rows.append(text_picture(self.metrics_text))
        return stack(rows)

    def _repr_mimebundle_(self, **kwargs) -> dict:
        text = "MergeComparison (a static picture; run the cell in a live kernel for the widget)"
        return bundle_with_picture(self.widget, self.picture(), text, **kwargs)


def _fit_width(picture: np.ndarray, width: int) -> np.ndarray:
    """Resize (H, W, 3) uint8 to ``width`` px wide, keeping the aspect ratio."""
    height = max(1, round(picture.shape[0] * width / picture.shape[1]))
    return np.asarray(Image.fromarray(picture).resize((width, height), Image.BILINEAR))
