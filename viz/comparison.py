"""MergeComparison: one image through several models (blender / weighted sum / assembler) side by side."""

from __future__ import annotations

import html
import numbers
from collections.abc import Mapping, Sequence

import ipywidgets as widgets

from viz.attention_map import attention_overlay
from viz.images import as_image_tensor, png_bytes
from viz.inference import predict
from viz.overlay import draw_instances


def _flatten(metrics: Mapping, prefix: str = "") -> dict[str, float]:
    flat = {}
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{name}/"))
        elif isinstance(value, numbers.Real) and not isinstance(value, bool):
            flat[name] = float(value)
    return flat


def metrics_table(metrics: Mapping[str, Mapping]) -> str:
    """HTML table, one row per model, one column per numeric metric (nested dicts flattened to
    "a/b"); the best value of each column in bold."""
    rows = {name: _flatten(values) for name, values in metrics.items()}
    columns = list(dict.fromkeys(key for values in rows.values() for key in values))
    best = {c: max(v[c] for v in rows.values() if c in v) for c in columns}
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = ""
    for name, values in rows.items():
        cells = ""
        for column in columns:
            value = values.get(column)
            text = "–" if value is None else f"{value:.1f}" if abs(value) >= 1 else f"{value:.3f}"
            cells += (
                f"<td><b>{text}</b></td>"
                if value is not None and value == best[column]
                else f"<td>{text}</td>"
            )
        body += f"<tr><th style='text-align:left'>{html.escape(name)}</th>{cells}</tr>"
    return f"<table><tr><th>model</th>{head}</tr>{body}</table>"


def _describe(prediction: Mapping) -> str:
    args = prediction.get("blend_args", {})
    bases = prediction.get("bases")
    parts = [args.get("method", "?")]
    if bases is not None:
        parts.append(f"K={bases.shape[0]}")
    if args.get("attn_size") is not None:
        parts.append(f"M={args['attn_size']}")
    if args.get("resolution") is not None:
        parts.append(f"R={args['resolution']}")
    return ", ".join(parts)


class MergeComparison:
    """The same image through several models, side by side: instance masks for every model and,
    for blender models, the attentions projected onto the image (Figure 3 style). ``metrics``
    ({name: {metric: value}}, e.g. each model's evaluation result) adds an AP table.

    Drive it through ``image_select.value`` and ``score_slider.value``; ``predictions`` holds
    the current image's prediction dict per model, ``mask_panels`` / ``attention_panels`` the
    rendered PNGs.
    """

    def __init__(
        self,
        models: Mapping[str, object],
        images: Sequence,
        *,
        metrics: Mapping[str, Mapping] | None = None,
        class_names: Sequence[str] | None = None,
        score_threshold: float = 0.5,
    ) -> None:
        if not models:
            raise ValueError("MergeComparison needs at least one model")
        if len(images) == 0:
            raise ValueError("MergeComparison needs at least one image")
        self.models = dict(models)
        self.images = [as_image_tensor(image) for image in images]
        self.class_names = class_names
        self._cache: dict[tuple[str, int], dict] = {}
        self.predictions: dict[str, dict] = {}
        self.image_select = widgets.Dropdown(
            options=[(f"image {i}", i) for i in range(len(self.images))], value=0, description="image"
        )
        self.score_slider = widgets.FloatSlider(
            value=score_threshold, min=0.0, max=1.0, step=0.01, description="score ≥", continuous_update=False
        )
        self.titles = {name: widgets.HTML() for name in self.models}
        self.mask_panels = {name: widgets.Image(format="png") for name in self.models}
        self.attention_panels: dict[str, widgets.Image] = {}
        self.table = widgets.HTML(metrics_table(metrics) if metrics else "")
        self.columns = widgets.HBox()
        self.widget = widgets.VBox(
            [widgets.HBox([self.image_select, self.score_slider]), self.columns, self.table]
        )
        self.image_select.observe(lambda _: self._update(), "value")
        self.score_slider.observe(lambda _: self._update(), "value")
        self._update()

    def _predict(self, name: str) -> dict:
        key = (name, self.image_select.value)
        if key not in self._cache:
            self._cache[key] = predict(self.models[name], self.images[self.image_select.value])
        return self._cache[key]

    def _update(self) -> None:
        image = self.images[self.image_select.value]
        threshold = self.score_slider.value
        columns = []
        for name in self.models:
            pred = self._predict(name)
            self.predictions[name] = pred
            self.titles[name].value = f"<b>{html.escape(name)}</b> <small>({_describe(pred)})</small>"
            self.mask_panels[name].value = png_bytes(
                draw_instances(image, pred, score_threshold=threshold, class_names=self.class_names)
            )
            children = [self.titles[name], self.mask_panels[name]]
            if pred.get("blend_args", {}).get("method") == "blender":
                panel = self.attention_panels.setdefault(name, widgets.Image(format="png"))
                panel.value = png_bytes(attention_overlay(pred, image, score_threshold=threshold))
                children.append(panel)
            columns.append(widgets.VBox(children))
        self.columns.children = columns

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)
