"""A widget's mime bundle with a static picture of its current view next to the live widget view.

A live kernel draws ``application/vnd.jupyter.widget-view+json``; an untrusted notebook, GitHub
and nbviewer cannot, and fall back to the ``image/png`` (instead of the widget's ``repr`` text).
"""

from __future__ import annotations

import base64

import ipywidgets as widgets
import numpy as np

from viz.images import png_bytes

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def bundle_with_picture(widget: widgets.Widget, picture: np.ndarray | bytes, text: str, **kwargs) -> dict:
    """``widget``'s mime bundle plus ``image/png`` of ``picture`` ((H, W, 3) array or PNG bytes) and
    ``text`` as its ``text/plain``."""
    data = dict(widget._repr_mimebundle_(**kwargs) or {})
    png = picture if isinstance(picture, bytes) else png_bytes(picture)
    data["image/png"] = base64.b64encode(png).decode("ascii")
    data["text/plain"] = text
    return data
