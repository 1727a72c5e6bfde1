"""Palettes shared by every view: one colour per basis, one per instance (or class).

Basis k always gets ``basis_color(k)`` whatever the view or the number of bases, so a basis is
recognisable from Figure 1 to Figure 3 to the widgets. The first four follow the paper's Figure 3
(red, blue, yellow, green); further bases step around the hue circle by the golden angle.
"""

from __future__ import annotations

import colorsys

import numpy as np
from matplotlib.colors import LinearSegmentedColormap, to_rgb

RGB = tuple[float, float, float]

_BASIS_HEX = (
    "#d62728",  # red
    "#1f77b4",  # blue
    "#e6b400",  # yellow (darkened so it reads on white)
    "#2ca02c",  # green
    "#9467bd",  # purple
    "#ff7f0e",  # orange
    "#17becf",  # cyan
    "#e377c2",  # pink
    "#8c564b",  # brown
    "#7f7f00",  # olive
)
NEGATIVE = to_rgb("#3a3a3a")  # the negative end of every signed basis colormap
WHITE: RGB = (1.0, 1.0, 1.0)
_GOLDEN = 0.618033988749895


def _golden_hue(index: int, *, offset: float, saturation: float, value: float) -> RGB:
    hue = (offset + index * _GOLDEN) % 1.0
    return colorsys.hsv_to_rgb(hue, saturation, value)


def basis_color(k: int) -> RGB:
    """RGB in 0..1 of basis ``k`` (0-based)."""
    if k < 0:
        raise ValueError(f"basis index must be >= 0, got {k}")
    if k < len(_BASIS_HEX):
        return to_rgb(_BASIS_HEX[k])
    return _golden_hue(k, offset=0.05, saturation=0.8, value=0.8)


def basis_colors(num_bases: int) -> np.ndarray:
    """(K, 3) float RGB in 0..1, row k = ``basis_color(k)``."""
    return np.array([basis_color(k) for k in range(num_bases)], dtype=np.float64)


def basis_cmap(k: int, *, signed: bool = True) -> LinearSegmentedColormap:
    """Colormap of basis ``k``: grey (negative) -> white (0) -> basis colour, or white -> colour."""
    stops = [NEGATIVE, WHITE, basis_color(k)] if signed else [WHITE, basis_color(k)]
    return LinearSegmentedColormap.from_list(f"basis{k}{'_signed' if signed else ''}", stops)


def basis_colorscale(k: int, *, signed: bool = True) -> list[list]:
    """The plotly counterpart of ``basis_cmap``: [[position, 'rgb(r,g,b)'], ...]."""
    stops = [NEGATIVE, WHITE, basis_color(k)] if signed else [WHITE, basis_color(k)]
    positions = np.linspace(0.0, 1.0, len(stops))
    return [
        [float(p), "rgb({},{},{})".format(*(round(255 * c) for c in rgb))]
        for p, rgb in zip(positions, stops, strict=True)
    ]


def attention_mixture(weights: np.ndarray) -> np.ndarray:
    """Blend basis colours by their weights: (K, R, R) -> (R, R, 3) RGB in 0..1.

    Each position gets sum_k w_k * colour_k; whatever weight is missing from 1 (K = 1's sigmoid,
    bases switched off) is left white.
    """
    weights = np.asarray(weights, dtype=np.float64)
    if weights.ndim != 3:
        raise ValueError(f"weights must be (K, R, R), got shape {weights.shape}")
    colors = basis_colors(weights.shape[0])
    mixed = np.einsum("khw,kc->hwc", weights, colors)
    rest = np.clip(1.0 - weights.sum(axis=0), 0.0, 1.0)[..., None]
    return np.clip(mixed + rest * np.asarray(WHITE), 0.0, 1.0)


def instance_color(index: int) -> tuple[int, int, int]:
    """Deterministic uint8 RGB for instance (or class) ``index``: golden-angle hues, bright."""
    if index < 0:
        raise ValueError(f"instance index must be >= 0, got {index}")
    rgb = _golden_hue(index, offset=0.45, saturation=0.75, value=0.95)
    return tuple(int(round(255 * c)) for c in rgb)
