"""Visualization toolkit for BlendMask: the paper's figures, overlays, plotly views and widgets."""
