"""Backbone (torchvision ResNet / MobileNetV2) + FPN (torchvision.ops) giving C3..C5 and P3..P7.

Weights are never downloaded unless ``cfg.backbone_weights`` names a torchvision weights enum;
a path to a ``.pkl`` / ``.pth`` file loads detectron2 MSRA weights (``R-50.pkl``) instead.
With ``stride_in_1x1`` each downsampling bottleneck strides on its first 1x1 conv (detectron2,
MSRA weights); ``deform_interval`` makes every n-th 3x3 of res3..res5 a modulated deformable
conv (``torchvision.ops.deform_conv2d``, DCNv2).
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torchvision
from torch import Tensor, nn
from torchvision.ops import FeaturePyramidNetwork, FrozenBatchNorm2d, deform_conv2d
from torchvision.ops.feature_pyramid_network import ExtraFPNBlock, LastLevelP6P7

from ..config import BlendMaskConfig


def is_weights_file(name: str | None) -> bool:
    """Whether ``backbone_weights`` names a file (detectron2 ``.pkl`` / torch ``.pth``), not an enum."""
    return name is not None and name.endswith((".pkl", ".pth", ".pt"))


def resolve_weights(arch: str, name: str | None):
    """``"ResNet50_Weights.IMAGENET1K_V1"``, ``"IMAGENET1K_V1"`` or ``"DEFAULT"`` -> weights enum."""
    if name is None or is_weights_file(name):
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


class ModulatedDeformConv(nn.Module):
    """3x3 DCNv2: ``offset`` conv -> (dy, dx) x 9 and a sigmoid mask x 9, then ``deform_conv2d``."""

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        self.stride, self.padding, self.dilation = conv.stride, conv.padding, conv.dilation
        self.weight = conv.weight
        kh, kw = conv.kernel_size
        self.offset = nn.Conv2d(conv.in_channels, 3 * kh * kw, conv.kernel_size, conv.stride, conv.padding)
        nn.init.zeros_(self.offset.weight)
        nn.init.zeros_(self.offset.bias)

    def forward(self, x: Tensor) -> Tensor:
        off_x, off_y, mask = self.offset(x).chunk(3, dim=1)
        return deform_conv2d(
            x,
            torch.cat([off_x, off_y], dim=1),
            self.weight,
            stride=self.stride,
            padding=self.padding,
            dilation=self.dilation,
            mask=mask.sigmoid(),
        )


def _to_detectron2_blocks(stages: list[nn.Module], stride_in_1x1: bool, deform_interval: int) -> None:
    """Move bottleneck strides to conv1 and swap in deformable 3x3s (res3..res5) in place."""
    for stage in stages[2:]:
        for i, block in enumerate(stage):
            if stride_in_1x1 and block.conv2.stride != (1, 1):
                block.conv1.stride, block.conv2.stride = block.conv2.stride, (1, 1)
            if deform_interval and i % deform_interval == 0:
                block.conv2 = ModulatedDeformConv(block.conv2)


class LastLevelP6(ExtraFPNBlock):
    """P6 from P5 by a stride-2 3x3 conv (AdelaiDet's 550 px models)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.p6 = nn.Conv2d(channels, channels, 3, 2, 1)
        nn.init.kaiming_uniform_(self.p6.weight, a=1)
        nn.init.zeros_(self.p6.bias)

    def forward(self, p: list[Tensor], c: list[Tensor], names: list[str]) -> tuple[list[Tensor], list[str]]:
        return [*p, self.p6(p[-1])], [*names, "p6"]


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
        if cfg.stride_in_1x1 or cfg.deform_interval:
            _to_detectron2_blocks(stages, cfg.stride_in_1x1, cfg.deform_interval)
        self.stem, self.c2, self.c3, self.c4, self.c5 = stages
        self.out_channels = dict(zip(("c3", "c4", "c5"), channels, strict=True))
        if is_weights_file(cfg.backbone_weights):
            from .detectron2_weights import load_backbone_file

            load_backbone_file(self, cfg.backbone_weights)
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
        extra: ExtraFPNBlock | None = None  # P6 (and P7) from P5; built only when used, so that the
        if cfg.fpn_max_level == 7:  # random initialisation of everything after it keeps its seed
            extra = LastLevelP6P7(width, width)
        elif cfg.fpn_max_level == 6:
            extra = LastLevelP6(width)
        self.fpn = FeaturePyramidNetwork(list(self.body.out_channels.values()), width, extra_blocks=extra)
        self.out_channels = width

    def forward(self, x: Tensor) -> tuple[OrderedDict[str, Tensor], OrderedDict[str, Tensor]]:
        c_feats = self.body(x)
        pyramid = self.fpn(c_feats)
        p_feats = OrderedDict((f"p{level}", feat) for level, feat in enumerate(pyramid.values(), start=3))
        return c_feats, p_feats
