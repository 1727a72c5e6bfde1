"""Visualization toolkit for BlendMask: the paper's figures, overlays, plotly views and widgets.

It draws what the model package predicts and what ``blendmask.analysis`` measures; nothing here
computes a research result. Nothing re-runs the model except the widgets, which call it once per image.
"""

from viz.attention_map import attention_overlay, select_instances
from viz.clickable import ClickableImage
from viz.colors import attention_mixture, basis_cmap, basis_color, basis_colors, instance_color
from viz.comparison import MergeComparison, metrics_table
from viz.explorer import BlendingExplorer
from viz.figures import bases_figure, blending_figure
from viz.overlay import draw_instances, mask_outline
from viz.panels import blending_panel
from viz.plotly_views import plotly_attention, plotly_bases, plotly_training_curves, read_metrics
from viz.score_view import ScoreThresholdView
from viz.speed import speed_figure, stages_figure

__all__ = [
    "BlendingExplorer",
    "ClickableImage",
    "MergeComparison",
    "ScoreThresholdView",
    "attention_mixture",
    "attention_overlay",
    "bases_figure",
    "basis_cmap",
    "basis_color",
    "basis_colors",
    "blending_figure",
    "blending_panel",
    "draw_instances",
    "instance_color",
    "mask_outline",
    "metrics_table",
    "plotly_attention",
    "plotly_bases",
    "plotly_training_curves",
    "read_metrics",
    "select_instances",
    "speed_figure",
    "stages_figure",
]
