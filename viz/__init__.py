"""Visualization toolkit for BlendMask: the paper's figures, overlays, plotly views and widgets.

It draws what the model package predicts and what ``blendmask.analysis`` measures; nothing here
computes a research result. Nothing re-runs the model except the widgets, which call it once per image.
"""

from viz.attention_map import attention_overlay, select_instances
from viz.basis_figures import attention_template_figure, basis_semantics_figure
from viz.clickable import ClickableImage
from viz.colors import attention_mixture, basis_cmap, basis_color, basis_colors, instance_color
from viz.comparison import MergeComparison, metrics_table
from viz.explorer import BlendingExplorer
from viz.figures import bases_figure, blending_figure
from viz.galleries import inspection_gallery, match_title, photos_figure, samples_figure
from viz.merge_figures import (
    METHOD_COLORS,
    merge_grid_figure,
    oracle_figure,
    table1_figure,
    variant_losses_figure,
)
from viz.overlay import draw_instances, mask_outline
from viz.panels import blending_panel
from viz.plotly_views import (
    plotly_attention,
    plotly_bases,
    plotly_category_ap,
    plotly_iou_histogram,
    plotly_training_curves,
    read_metrics,
)
from viz.score_view import ScoreThresholdView
from viz.speed import speed_figure, stages_figure

__all__ = [
    "METHOD_COLORS",
    "BlendingExplorer",
    "ClickableImage",
    "MergeComparison",
    "ScoreThresholdView",
    "attention_mixture",
    "attention_overlay",
    "attention_template_figure",
    "bases_figure",
    "basis_cmap",
    "basis_color",
    "basis_colors",
    "basis_semantics_figure",
    "blending_figure",
    "blending_panel",
    "draw_instances",
    "inspection_gallery",
    "instance_color",
    "mask_outline",
    "match_title",
    "merge_grid_figure",
    "metrics_table",
    "oracle_figure",
    "photos_figure",
    "plotly_attention",
    "plotly_bases",
    "plotly_category_ap",
    "plotly_iou_histogram",
    "plotly_training_curves",
    "read_metrics",
    "samples_figure",
    "select_instances",
    "speed_figure",
    "stages_figure",
    "table1_figure",
    "variant_losses_figure",
]
