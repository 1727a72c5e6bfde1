"""Bottom modules predicting the K bases (N, K, H/s, W/s), and the auxiliary semantic head on P3.

- ``protonet`` / ``proto_fpn`` (official default; the paper's Proto-FPN): a 3x3 conv-norm-ReLU
  brings each input level (P3..P5) to ``bottom_channels``; the coarser ones are upsampled
  bilinearly to the finest and summed; then ``bottom_num_convs`` x conv, x2 bilinear upsample
  (stride-4 bases only), conv, 1x1 conv -> K.
- ``proto_p3``: YOLACT's protonet, the same tower directly on P3 (no per-level conv).
- ``deeplabv3plus``: ASPP on the high-level input (C5 or P5), 1x1 -> 48 on the low-level input
  (C3 or P3), concatenate at stride 8, two 3x3 convs, x2 upsample (stride-4 bases), 1x1 -> K.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..config import BlendMaskConfig
from .layers import conv_norm_relu, make_norm, msra_init


def _upsample_to(x: Tensor, ref: Tensor) -> Tensor:
    return F.interpolate(x, size=ref.shape[-2:], mode="bilinear", align_corners=False)


class _BasesOutput(nn.Sequential):
    """[x2 bilinear upsample + conv] (stride-4 bases) -> 1x1 conv to K bases."""

    def __init__(self, channels: int, num_bases: int, norm: str, upsample: bool) -> None:
        layers: list[nn.Module] = []
        if upsample:
            layers += [nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)]
            layers += [conv_norm_relu(channels, channels, norm)]
        layers.append(nn.Conv2d(channels, num_bases, 1))
        super().__init__(*layers)


class ProtoNet(nn.Module):
    """Proto-FPN (``refine=True``) or YOLACT's Proto-P3 (``refine=False``) -> bases (N, K, H/s, W/s)."""

    def __init__(self, cfg: BlendMaskConfig, in_channels: int, *, refine: bool) -> None:
        super().__init__()
        width, norm = cfg.bottom_channels, cfg.bottom_norm
        self.in_features = cfg.bottom_in_features
        if refine:
            self.refine = nn.ModuleList(conv_norm_relu(in_channels, width, norm) for _ in self.in_features)
            tower_in = width
        else:
            self.refine = None
            tower_in = in_channels
        tower = [
            conv_norm_relu(tower_in if i == 0 else width, width, norm) for i in range(cfg.bottom_num_convs)
        ]
        if not tower and tower_in != width:
            tower = [conv_norm_relu(tower_in, width, norm)]
        self.tower = nn.Sequential(*tower)
        self.output = _BasesOutput(width, cfg.num_bases, norm, upsample=cfg.bases_stride == 4)
        msra_init(self)

    def forward(self, c_feats: dict[str, Tensor], p_feats: dict[str, Tensor]) -> Tensor:
        feats = [p_feats[name] for name in self.in_features]
        if self.refine is None:
            x = feats[0]
        else:
            x = self.refine[0](feats[0])
            for conv, feat in zip(self.refine[1:], feats[1:], strict=True):
                x = x + _upsample_to(conv(feat), x)
        return self.output(self.tower(x))


class ASPP(nn.Module):
    """DeepLabV3 atrous spatial pyramid pooling with a configurable norm (rates 6, 12, 18 + image pool).

    torchvision's ASPP hard-codes BatchNorm after the 1x1 image pooling, which fails in training
    with one image per batch; here the pooled branch has no norm.
    """

    def __init__(
        self, in_channels: int, channels: int, norm: str, rates: tuple[int, ...] = (6, 12, 18)
    ) -> None:
        super().__init__()
        branches = [conv_norm_relu(in_channels, channels, norm, kernel_size=1)]
        for rate in rates:
            conv = nn.Conv2d(in_channels, channels, 3, padding=rate, dilation=rate, bias=norm == "none")
            branches.append(nn.Sequential(conv, make_norm(norm, channels), nn.ReLU(inplace=True)))
        self.branches = nn.ModuleList(branches)
        self.pool = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Conv2d(in_channels, channels, 1), nn.ReLU(inplace=True)
        )
        self.project = conv_norm_relu(channels * (len(rates) + 2), channels, norm, kernel_size=1)

    def forward(self, x: Tensor) -> Tensor:
        outs = [branch(x) for branch in self.branches]
        outs.append(self.pool(x).expand(-1, -1, *x.shape[-2:]))
        return self.project(torch.cat(outs, dim=1))


class DeepLabV3PlusDecoder(nn.Module):
    """DeepLabV3+ decoder on (low, high) = (C3, C5) or (P3, P5) -> bases (N, K, H/s, W/s)."""

    def __init__(self, cfg: BlendMaskConfig, low_channels: int, high_channels: int) -> None:
        super().__init__()
        width, norm = cfg.bottom_channels, cfg.bottom_norm
        self.low_name, self.high_name = cfg.bottom_in_features
        self.aspp = ASPP(high_channels, width, norm)
        self.reduce = conv_norm_relu(low_channels, 48, norm, kernel_size=1)
        self.fuse = nn.Sequential(conv_norm_relu(width + 48, width, norm), conv_norm_relu(width, width, norm))
        self.output = _BasesOutput(width, cfg.num_bases, norm, upsample=cfg.bases_stride == 4)
        msra_init(self)

    def forward(self, c_feats: dict[str, Tensor], p_feats: dict[str, Tensor]) -> Tensor:
        feats = {**c_feats, **p_feats}
        low = self.reduce(feats[self.low_name])
        high = _upsample_to(self.aspp(feats[self.high_name]), low)
        return self.output(self.fuse(torch.cat([low, high], dim=1)))


class SemanticHead(nn.Module):
    """Auxiliary semantic head on P3: 2 x (3x3 conv, BN, ReLU) + 1x1 -> C + 1 logits (0 = background)."""

    def __init__(self, cfg: BlendMaskConfig, in_channels: int) -> None:
        super().__init__()
        width = cfg.sem_channels
        self.net = nn.Sequential(
            conv_norm_relu(in_channels, width, "BN"),
            conv_norm_relu(width, width, "BN"),
            nn.Conv2d(width, cfg.num_classes + 1, 1),
        )
        msra_init(self)

    def forward(self, p3: Tensor) -> Tensor:
        return self.net(p3)


def build_bottom_module(cfg: BlendMaskConfig, channels: dict[str, int]) -> nn.Module:
    """The bottom module named by ``cfg.bottom_module``; ``channels`` maps feature names to widths."""
    if cfg.bottom_module == "deeplabv3plus":
        low, high = cfg.bottom_in_features
        return DeepLabV3PlusDecoder(cfg, channels[low], channels[high])
    return ProtoNet(cfg, channels[cfg.bottom_in_features[0]], refine=cfg.bottom_module != "proto_p3")
