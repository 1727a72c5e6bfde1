"""ScoreThresholdView: ground truth | prediction of one image and the per-category match table, as the
score threshold moves (an ipywidgets view of an ``Inspection``)."""

from __future__ import annotations

import html

import ipywidgets as widgets
import numpy as np
from PIL import Image

from blendmask.analysis.inspection import Inspection
from blendmask.analysis.matching import match_summary
from viz.images import png_bytes
from viz.overlay import draw_instances
from viz.panels import stack, text_picture
from viz.snapshot import bundle_with_picture


class ScoreThresholdView:
    """Pick an inspected image and a score threshold; the picture (ground truth | prediction, shown
    at ``scale`` x its pixel size, never stretched) and the text table of matches, misses and false
    positives per category (``blendmask.analysis.matching.match_summary``) follow.

    Drive it through ``slider.value`` and ``picker.value``; ``summary`` holds the table's text and
    ``drawn`` the picture (H, W, 3) uint8. Saved in a notebook, it leaves a PNG of picture and table.
    """

    def __init__(
        self,
        inspection: Inspection,
        *,
        score_threshold: float = 0.5,
        match_threshold: float = 0.1,
        max_images: int = 30,
        scale: int = 2,
    ) -> None:
        if not inspection.images:
            raise ValueError("ScoreThresholdView needs an inspection with at least one image")
        self.inspection = inspection
        self.match_threshold = match_threshold
        self.scale = scale
        self.summary = ""
        self.drawn: np.ndarray | None = None
        self.slider = widgets.FloatSlider(
            value=score_threshold,
            min=0.0,
            max=0.95,
            step=0.05,
            description="score ≥",
            continuous_update=False,
            readout_format=".2f",
        )
        self.picker = widgets.Dropdown(
            options=[(f"image {item.image_id}", i) for i, item in enumerate(inspection.images[:max_images])],
            description="image",
        )
        self.picture = widgets.Image(format="png")
        self.table = widgets.HTML()
        self.widget = widgets.VBox([widgets.HBox([self.slider, self.picker]), self.picture, self.table])
        self.slider.observe(lambda _: self._update(), "value")
        self.picker.observe(lambda _: self._update(), "value")
        self._update()

    def _update(self) -> None:
        found = self.inspection.matches(
            score_threshold=self.slider.value, match_threshold=self.match_threshold
        )
        self.summary = match_summary(found, self.inspection.categories)
        self.table.value = f"<pre class='blendmask-score-table'>{html.escape(self.summary)}</pre>"
        image, target = self.inspection.image(self.picker.value)
        drawn = draw_instances(
            image,
            self.inspection.prediction(self.picker.value),
            ground_truth=target,
            class_names=self.inspection.categories,
            score_threshold=self.slider.value,
        )
        height, width = drawn.shape[:2]
        self.drawn = np.asarray(
            Image.fromarray(drawn).resize((width * self.scale, height * self.scale), Image.NEAREST)
        )
        self.picture.value = png_bytes(self.drawn)
        self.picture.layout.width, self.picture.layout.max_width = f"{width * self.scale}px", "100%"

    def _repr_mimebundle_(self, **kwargs) -> dict:
        text = "ScoreThresholdView (a static picture; run the cell in a live kernel for the widget)"
        return bundle_with_picture(
            self.widget, stack([self.drawn, text_picture(self.summary)]), text, **kwargs
        )
