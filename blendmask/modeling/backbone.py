"""Backbone (torchvision ResNet / MobileNetV2) + FPN (torchvision.ops) giving C3..C5 and P3..P7.

Weights are never downloaded unless ``cfg.backbone_weights`` names a torchvision weights enum.
"""

from __future__ import annotations

from collections import OrderedDict

import torchvision
from torch import Tensor, nn
from torchvision.ops import FeaturePyramidNetwork, FrozenBatchNorm2d
from torchvision.ops.feature_pyramid_network import LastLevelP6P7

from ..config import BlendMaskConfig


def resolve_weights(arch: str, name: str | None):
    """``"ResNet50_Weights.IMAGENET1K_V1"``, ``"IMAGENET1K_V1"`` or ``"DEFAULT"`` -> weights enum."""
    if name is None:
        return None
    try:
        if "." in name:
            return torchvision.models.get_weight(name)
        return torchvision.models.get_model_weights(arch)[name]
    except (KeyError, ValueError, AttributeError) as err:
        raise ValueError(
            f"BlendMaskConfig.backbone_weights: unknown torchvision weights {name!r} for {arch}"
        ) from err


def _stages(arch: str, net: nn.Module) -> tuple[list[nn.Module], list[int]]:
    """Split a torchvision classifier into [stem, C2, C3, C4, C5] and the channels of C3..C5."""
    if arch.startswith("resnet"):
        stem = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool)
        stages = [stem, net.layer1, net.layer2, net.layer3, net.layer4]
        expansion = type(net.layer4[-1]).expansion  # 1 (BasicBlock) or 4 (Bottleneck)
        return stages, [128 * expansion, 256 * expansion, 512 * expansion]
    feats = net.features  # mobilenet_v2: strides 2 | 4 (1-3) | 8 (4-6) | 16 (7-13) | 32 (14-17); 18 dropped
    stages = [feats[0], feats[1:4], feats[4:7], feats[7:14], feats[14:18]]
    return stages, [32, 96, 320]


class Backbone(nn.Module):
    """torchvision backbone returning ``OrderedDict(c3, c4, c5)`` at strides 8, 16, 32."""

    def __init__(self, cfg: BlendMaskConfig) -> None:
        super().__init__()
        arch = cfg.backbone
        norm_layer = FrozenBatchNorm2d if cfg.frozen_bn else nn.BatchNorm2d
        net = getattr(torchvision.models, arch)(
            weights=resolve_weights(arch, cfg.backbone_weights), norm_layer=norm_layer
        )
        stages, channels = _stages(arch, net)
        self.stem, self.c2, self.c3, self.c4, self.c5 = stages
        self.out_channels = dict(zip(("c3", "c4", "c5"), channels, strict=True))
        for stage in stages[: cfg.freeze_at]:
            for p in stage.parameters():
                p.requires_grad_(False)

    def forward(self, x: Tensor) -> OrderedDict[str, Tensor]:
        x = self.c2(self.stem(x))
        c3 = self.c3(x)
        c4 = self.c4(c3)
        c5 = self.c5(c4)
        return OrderedDict(c3=c3, c4=c4, c5=c5)


class BackboneFPN(nn.Module):
    """Backbone + FPN: ``forward(x) -> (C features dict, P features dict p3..p{max})``."""

    def __init__(self, cfg: BlendMaskConfig) -> None:
        super().__init__()
        self.body = Backbone(cfg)
        width = cfg.fpn_channels
        extra = LastLevelP6P7(width, width) if cfg.fpn_max_level == 7 else None  # P6/P7 from P5 (FCOS)
        self.fpn = FeaturePyramidNetwork(list(self.body.out_channels.values()), width, extra_blocks=extra)
        self.out_channels = width

    def forward(self, x: Tensor) -> tuple[OrderedDict[str, Tensor], OrderedDict[str, Tensor]]:
        c_feats = self.body(x)
        pyramid = self.fpn(c_feats)
        p_feats = OrderedDict((f"p{level}", feat) for level, feat in enumerate(pyramid.values(), start=3))
        return c_feats, p_feats
