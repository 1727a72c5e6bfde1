"""BlendingExplorer: an ipywidgets view of Figure 1 in which bases can be switched off and scaled."""

from __future__ import annotations

from collections.abc import Sequence

import ipywidgets as widgets
import numpy as np

from blendmask.analysis.steps import BlendingSteps, blending_steps
from blendmask.data import to_image_tensor
from blendmask.engine.predict import predict_image
from blendmask.structures import Prediction
from viz.clickable import ClickableImage
from viz.colors import basis_color
from viz.images import png_bytes
from viz.overlay import draw_instances
from viz.panels import blending_panel, stack, text_picture
from viz.snapshot import bundle_with_picture


def _hex(rgb: tuple[float, float, float]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*(round(255 * c) for c in rgb))


def _legible(rgb: tuple[float, float, float], max_luminance: float = 0.45) -> str:
    """``rgb`` darkened until it reads on a light grey button (the yellow of basis 3 becomes gold)."""
    luminance = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]
    factor = min(1.0, max_luminance / max(luminance, 1e-6))
    return _hex(tuple(factor * c for c in rgb))


class BlendingExplorer:
    """Pick an image and a detection (from the list, or by clicking it on the overview image); switch
    each basis on/off and scale its attention weight.

    The blending figure and ``steps`` (the current ``BlendingSteps``; ``steps.mask`` is the
    displayed mask) follow every change of ``image_select``, ``instance_select``,
    ``basis_toggles[k]``, ``attention_sliders[k]``, ``score_slider`` and ``mask_slider``
    (set their ``.value``) and of ``overview.click`` (a click on the overview selects the detection
    under it, see ``select_at``). Scaling multiplies the soft-maxed weight s^k, without renormalising,
    so with one basis left on the mask logits are exactly that basis' product.
    The model runs once per image; the overview is drawn once per image and score threshold, and
    the blending panel (``panel``, (H, W, 3) uint8) is drawn from arrays (``panels.blending_panel``).
    Saved in a notebook, it leaves a PNG of its current view next to the widget view.
    Display it as the last expression of a notebook cell (or ``display(explorer.widget)``).
    """

    def __init__(
        self,
        model_or_predictor,
        images: Sequence,
        *,
        class_names: Sequence[str] | None = None,
        score_threshold: float = 0.3,
        mask_threshold: float = 0.5,
        max_bases: int = 8,
    ) -> None:
        if len(images) == 0:
            raise ValueError("BlendingExplorer needs at least one image")
        self.source = model_or_predictor
        self.images = [to_image_tensor(image) for image in images]
        self.class_names = class_names
        self.max_bases = max_bases
        self.steps: BlendingSteps | None = None
        self.panel: np.ndarray | None = None
        self._predictions: dict[int, Prediction] = {}
        self._overviews: dict[tuple[int, float], np.ndarray] = {}
        self._shown_overview: tuple[int, float] | None = None
        self._muted = False

        self.image_select = widgets.Dropdown(
            options=[(f"image {i}", i) for i in range(len(self.images))], value=0, description="image"
        )
        self.instance_select = widgets.Dropdown(options=[], description="instance")
        self.score_slider = widgets.FloatSlider(
            value=score_threshold, min=0.0, max=1.0, step=0.01, description="score ≥", continuous_update=False
        )
        self.mask_slider = widgets.FloatSlider(
            value=mask_threshold, min=0.05, max=0.95, step=0.05, description="mask ≥", continuous_update=False
        )
        self.basis_toggles: list[widgets.ToggleButton] = []
        self.attention_sliders: list[widgets.FloatSlider] = []
        self.basis_controls = widgets.HBox(layout=widgets.Layout(flex_flow="row wrap"))
        self.reset_button = widgets.Button(description="all bases on", icon="undo")
        self.reset_button.on_click(lambda _: self.reset_bases())
        self.overview = ClickableImage(layout=widgets.Layout(width="360px"))
        self.blending = widgets.Image(format="png")
        self.summary = widgets.HTML()
        self.widget = widgets.VBox(
            [
                widgets.HBox([self.image_select, self.instance_select]),
                widgets.HBox([self.score_slider, self.mask_slider, self.reset_button]),
                self.basis_controls,
                widgets.HBox([self.overview, self.summary]),
                self.blending,
            ]
        )
        self.image_select.observe(lambda _: self._load_image(), "value")
        self.score_slider.observe(lambda _: self._refresh_instances(), "value")
        self.instance_select.observe(lambda _: self._update(), "value")
        self.mask_slider.observe(lambda _: self._update(), "value")
        self.overview.observe(lambda _: self._select_clicked(), "click")
        self._load_image()

    @property
    def prediction(self) -> Prediction:
        """The Prediction of the selected image (computed once per image)."""
        index = self.image_select.value
        if index not in self._predictions:
            self._predictions[index] = predict_image(self.source, self.images[index])
        return self._predictions[index]

    def scales(self) -> list[float]:
        """Per-basis weight factors from the controls: the slider value, or 0 when toggled off."""
        return [
            s.value if t.value else 0.0
            for t, s in zip(self.basis_toggles, self.attention_sliders, strict=True)
        ]

    def select_at(self, x: float, y: float) -> int | None:
        """Select the listed detection with the smallest box containing pixel (x, y) (ties: the
        higher score), so a small detection inside a larger one can be picked; for click handlers.
        Returns its index, or None when no listed box is there."""
        pred = self.prediction
        height, width = self.images[self.image_select.value].shape[-2:]
        if not (0 <= x < width and 0 <= y < height):
            return None
        boxes = pred.boxes
        hits = [
            d
            for _, d in self.instance_select.options
            if boxes[d, 0] <= x <= boxes[d, 2] and boxes[d, 1] <= y <= boxes[d, 3]
        ]
        if not hits:
            return None
        area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        best = min(hits, key=lambda d: (float(area[d]), -float(pred.scores[d])))
        self.instance_select.value = best
        return best

    def _select_clicked(self) -> None:
        height, width = self.images[self.image_select.value].shape[-2:]
        clicked = self.overview.pixel(width, height)
        if clicked is not None:
            self.select_at(*clicked)

    def reset_bases(self) -> None:
        """Every basis back on at scale 1 (one redraw)."""
        self._muted = True
        for toggle, slider in zip(self.basis_toggles, self.attention_sliders, strict=True):
            toggle.value, slider.value = True, 1.0
        self._muted = False
        self._update()

    def _build_basis_controls(self, num_bases: int) -> None:
        if len(self.basis_toggles) == num_bases:
            return
        self.basis_toggles, self.attention_sliders, columns = [], [], []
        for k in range(num_bases):
            colour = _hex(basis_color(k))
            toggle = widgets.ToggleButton(
                value=True, description=f"basis {k + 1}", layout=widgets.Layout(width="150px")
            )
            toggle.style.font_weight = "bold"
            self._style_toggle(toggle, k)
            slider = widgets.FloatSlider(
                value=1.0,
                min=0.0,
                max=2.0,
                step=0.05,
                readout_format=".2f",
                continuous_update=False,
                layout=widgets.Layout(width="150px"),
                style={"description_width": "0px"},
            )
            slider.style.handle_color = colour
            toggle.observe(lambda change, k=k: self._toggled(change["owner"], k), "value")
            slider.observe(lambda _: self._update(), "value")
            self.basis_toggles.append(toggle)
            self.attention_sliders.append(slider)
            columns.append(widgets.VBox([toggle, slider]))
        self.basis_controls.children = columns

    @staticmethod
    def _style_toggle(toggle: widgets.ToggleButton, k: int) -> None:
        """On: "basis k" in a legible shade of its colour; off: "basis k off" in grey."""
        toggle.style.text_color = _legible(basis_color(k)) if toggle.value else "#777777"
        toggle.description = f"basis {k + 1}" if toggle.value else f"basis {k + 1} off"

    def _toggled(self, toggle: widgets.ToggleButton, k: int) -> None:
        self._style_toggle(toggle, k)
        self._update()

    def _load_image(self) -> None:
        pred = self.prediction
        num_bases = pred.rois.shape[1] if len(pred) else pred.bases.shape[0]
        self._build_basis_controls(int(num_bases))
        self._refresh_instances()

    def _refresh_instances(self) -> None:
        pred = self.prediction
        options = []
        for d in pred.indices_above(self.score_slider.value).tolist():
            score, label = float(pred.scores[d]), int(pred.labels[d])
            name = (
                self.class_names[label] if self.class_names and label < len(self.class_names) else str(label)
            )
            options.append((f"#{d} {name} {score:.2f}", d))
        current = self.instance_select.value
        self._muted = True
        self.instance_select.options = options
        values = [value for _, value in options]
        self.instance_select.value = current if current in values else (values[0] if values else None)
        self._muted = False
        self._update()

    def _update(self) -> None:
        if self._muted:
            return
        pred, image = self.prediction, self.images[self.image_select.value]
        key = (self.image_select.value, self.score_slider.value)
        if key not in self._overviews:
            self._overviews[key] = draw_instances(
                image, pred, score_threshold=self.score_slider.value, class_names=self.class_names
            )
            self.overview.value = png_bytes(self._overviews[key])
        elif self._shown_overview != key:
            self.overview.value = png_bytes(self._overviews[key])
        self._shown_overview = key
        index = self.instance_select.value
        if index is None:
            self.steps = self.panel = None
            self.blending.value = b""
            self.summary.value = f"<i>no detection scores ≥ {self.score_slider.value:.2f}</i>"
            return
        predicted = blending_steps(pred, index, mask_threshold=self.mask_slider.value)
        self.steps = predicted.scaled(self.scales())
        self.panel = blending_panel(
            self.steps,
            image,
            image_mask=pred.masks[index],
            title=self._title(),
            max_bases=self.max_bases,
        )
        self.blending.value = png_bytes(self.panel)
        self.summary.value = self._summary_html(predicted, self.steps)

    def _title(self) -> str:
        steps = self.steps
        name = self.instance_select.label or f"#{steps.index}"
        attn = "fixed one-hot tiles" if steps.attention is None else f"M={steps.attention.shape[-1]}"
        return f"Blending {name} ({steps.method}): K={steps.num_bases}, {attn}, R={steps.resolution}"

    def picture(self) -> np.ndarray:
        """(H, W, 3) uint8 of the current view: the overview above the blending panel."""
        overview = self._overviews[self._shown_overview]
        if self.panel is None:
            note = text_picture(f"no detection scores >= {self.score_slider.value:.2f}")
            return stack([overview, note])
        return stack([overview, self.panel])

    @staticmethod
    def _summary_html(predicted: BlendingSteps, shown: BlendingSteps) -> str:
        area, total = int(shown.mask.sum()), shown.mask.numel()
        union = int((predicted.mask | shown.mask).sum())
        iou = 1.0 if union == 0 else int((predicted.mask & shown.mask).sum()) / union
        rows = "".join(
            f"<tr><td style='color:{_hex(basis_color(k))}'><b>basis {k + 1}</b></td>"
            f"<td>{scale:g}</td><td>{float(shown.products[k].mean()):+.3f}</td></tr>"
            for k, scale in enumerate(shown.scales)
        )
        return (
            f"<p>mask: {area} / {total} px of the {shown.resolution}×{shown.resolution} region; "
            f"IoU with the predicted mask {iou:.3f}</p>"
            f"<table><tr><th>basis</th><th>scale</th><th>mean product</th></tr>{rows}</table>"
        )

    def _repr_mimebundle_(self, **kwargs) -> dict:
        text = "BlendingExplorer (a static picture; run the cell in a live kernel for the widget)"
        return bundle_with_picture(self.widget, self.picture(), text, **kwargs)
