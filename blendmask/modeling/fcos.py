"""FCOS head with BlendMask's top layer (paper §3.1, §3.3).

Per level: cls tower and box tower (``fcos_num_convs`` x [3x3 conv, norm, ReLU]; or one shared
tower as in BlendMask-RT); class logits (C) from the cls tower; box regression l, t, r, b (ReLU,
in units of the level's stride), centerness (1) and the top layer (ONE 3x3 conv, K*M*M channels,
layout c = k*M*M + i*M + j) from the box tower. All convs are shared across levels.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..config import BlendMaskConfig
from .layers import conv_norm_relu


class HeadOutputs(NamedTuple):
    """Per-level raw outputs, each a list over levels of (N, ch, H_l, W_l)."""

    cls_logits: list[Tensor]  # (N, C, H, W)
    box_reg: list[Tensor]  # (N, 4, H, W) l, t, r, b >= 0 in stride units
    centerness: list[Tensor]  # (N, 1, H, W) logits
    top_feats: list[Tensor] | None  # (N, K*M*M, H, W); None when the top layer is off (assembler)


class Scale(nn.Module):
    """A learnable scalar multiplier (one per FPN level)."""

    def __init__(self, init: float = 1.0) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(float(init)))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.scale


def _tower(in_channels: int, width: int, num_convs: int, norm: str, bias: bool) -> nn.Sequential:
    return nn.Sequential(
        *[
            conv_norm_relu(in_channels if i == 0 else width, width, norm, bias=bias or norm == "none")
            for i in range(num_convs)
        ]
    )


class FCOSHead(nn.Module):
    """FCOS towers + predictors + top layer, applied to every FPN level."""

    def __init__(self, cfg: BlendMaskConfig, in_channels: int) -> None:
        super().__init__()
        width, convs, norm, bias = cfg.fcos_channels, cfg.fcos_num_convs, cfg.fcos_norm, cfg.fcos_conv_bias
        self.shared = cfg.fcos_shared_tower
        if self.shared:
            self.share_tower = _tower(in_channels, width, convs, norm, bias)
        else:
            self.cls_tower = _tower(in_channels, width, convs, norm, bias)
            self.box_tower = _tower(in_channels, width, convs, norm, bias)
        self.cls_logits = nn.Conv2d(width, cfg.num_classes, 3, padding=1)
        self.box_pred = nn.Conv2d(width, 4, 3, padding=1)
        self.centerness = nn.Conv2d(width, 1, 3, padding=1)
        self.top_layer = (
            nn.Conv2d(width, cfg.num_bases * cfg.attn_size**2, 3, padding=1)
            if cfg.method != "assembler"
            else None
        )
        self.scales = nn.ModuleList(Scale() for _ in cfg.fpn_strides) if cfg.fcos_use_scale else None
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, std=0.01)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        nn.init.constant_(self.cls_logits.bias, -math.log((1 - cfg.fcos_prior_prob) / cfg.fcos_prior_prob))

    def forward(self, features: list[Tensor]) -> HeadOutputs:
        cls_logits, box_reg, centerness, top_feats = [], [], [], []
        for level, feat in enumerate(features):
            if self.shared:
                cls_feat = box_feat = self.share_tower(feat)
            else:
                cls_feat, box_feat = self.cls_tower(feat), self.box_tower(feat)
            cls_logits.append(self.cls_logits(cls_feat))
            reg = self.box_pred(box_feat)
            if self.scales is not None:
                reg = self.scales[level](reg)
            box_reg.append(F.relu(reg))
            centerness.append(self.centerness(box_feat))
            if self.top_layer is not None:
                top_feats.append(self.top_layer(box_feat))
        return HeadOutputs(cls_logits, box_reg, centerness, top_feats if self.top_layer is not None else None)


def flatten_levels(per_level: list[Tensor]) -> Tensor:
    """[(N, C, H_l, W_l)] -> (N, sum_l H_l*W_l, C), locations in row-major order within each level."""
    return torch.cat([x.permute(0, 2, 3, 1).reshape(x.shape[0], -1, x.shape[1]) for x in per_level], dim=1)
