"""Small building blocks shared by the heads: normalisation factory and conv-norm-ReLU."""

from __future__ import annotations

import math

from torch import nn

from ..config import NORMS

_NORM_LAYERS = {
    "GN": lambda channels: nn.GroupNorm(math.gcd(32, channels), channels),
    "BN": nn.BatchNorm2d,
    "none": lambda channels: nn.Identity(),
}


def make_norm(kind: str, channels: int) -> nn.Module:
    """``"GN"`` (32 groups, fewer when ``channels`` is not divisible), ``"BN"`` or ``"none"`` (``NORMS``)."""
    if kind not in _NORM_LAYERS:
        raise ValueError(f"norm must be one of {', '.join(NORMS)}, got {kind!r}")
    return _NORM_LAYERS[kind](channels)


def conv_norm_relu(
    in_channels: int, out_channels: int, norm: str, *, kernel_size: int = 3, bias: bool | None = None
) -> nn.Sequential:
    """kxk conv (by default without bias when normalised) -> norm -> ReLU."""
    bias = norm == "none" if bias is None else bias
    conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=bias)
    return nn.Sequential(conv, make_norm(norm, out_channels), nn.ReLU(inplace=True))


def msra_init(module: nn.Module) -> None:
    """Kaiming-normal (fan_out, ReLU) weights and zero biases for every conv in ``module``."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
