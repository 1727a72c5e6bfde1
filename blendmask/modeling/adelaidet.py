"""Import AdelaiDet's BlendMask model zoo checkpoints (``model_final.pth``) into this project.

The source is read without executing code (:func:`read_state_dict`). Its preset is inferred
from the keys (backbone depth, deformable convs, shared tower, P6/P7), each key is renamed into
this project's :class:`BlendMask`, and the mapping must be complete both ways: a source key
with no target, or a target left unfilled, is an error listing them. The result is an ordinary
project checkpoint (config + the 80 COCO class names in contiguous order).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..config import BlendMaskConfig
from .blendmask import BlendMask
from .detectron2_weights import read_state_dict

ZOO_PRESETS = ("R_50_1x", "R_50_3x", "R_101_3x", "R_101_dcni3_5x", "550_R_50_3x", "RT_R_50_4x_syncbn_shtw")

COCO_CLASSES = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog",
    "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella",
    "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
    "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange",
    "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant",
    "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors",
    "teddy bear", "hair drier", "toothbrush",
)  # fmt: skip

_R = "backbone.bottom_up."
_HEAD = "proposal_generator.fcos_head."
_BN_FIELDS = r"(weight|bias|running_mean|running_var|num_batches_tracked)"
_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(rf"^{_R}stem\.conv1\.weight$"), "backbone.body.stem.0.weight"),
    (re.compile(rf"^{_R}stem\.conv1\.norm\.{_BN_FIELDS}$"), r"backbone.body.stem.1.\1"),
    (re.compile(rf"^{_R}res(\d)\.(\d+)\.conv(\d)\.weight$"), r"backbone.body.c\1.\2.conv\3.weight"),
    (re.compile(rf"^{_R}res(\d)\.(\d+)\.conv(\d)\.norm\.{_BN_FIELDS}$"), r"backbone.body.c\1.\2.bn\3.\4"),
    (
        re.compile(rf"^{_R}res(\d)\.(\d+)\.conv2_offset\.(weight|bias)$"),
        r"backbone.body.c\1.\2.conv2.offset.\3",
    ),
    (re.compile(rf"^{_R}res(\d)\.(\d+)\.shortcut\.weight$"), r"backbone.body.c\1.\2.downsample.0.weight"),
    (
        re.compile(rf"^{_R}res(\d)\.(\d+)\.shortcut\.norm\.{_BN_FIELDS}$"),
        r"backbone.body.c\1.\2.downsample.1.\3",
    ),
    (re.compile(r"^backbone\.top_block\.(p6|p7)\.(weight|bias)$"), r"backbone.fpn.extra_blocks.\1.\2"),
    (re.compile(rf"^{_HEAD}cls_logits\.(weight|bias)$"), r"head.cls_logits.\1"),
    (re.compile(rf"^{_HEAD}bbox_pred\.(weight|bias)$"), r"head.box_pred.\1"),
    (re.compile(rf"^{_HEAD}(?:ctrness|centerness)\.(weight|bias)$"), r"head.centerness.\1"),
    (re.compile(rf"^{_HEAD}scales\.(\d+)\.scale$"), r"head.scales.\1.scale"),
    (re.compile(r"^top_layer\.(weight|bias)$"), r"head.top_layer.\1"),
    (re.compile(r"^basis_module\.refine\.(\d+)\.([01])\.(.+)$"), r"bottom.refine.\1.\2.\3"),
]
_FPN = re.compile(r"^backbone\.fpn_(lateral|output)([345])\.(weight|bias)$")
_TOWER = re.compile(rf"^{_HEAD}(cls|bbox|share)_tower\.(\d+)\.(.+)$")
_BASIS_TOWER = re.compile(r"^basis_module\.tower\.(\d+)\.(.+)$")
_SEG_HEAD = re.compile(r"^basis_module\.seg_head\.(\d)\.(.+)$")
_SEG_LAYERS = {"0": "net.0.0", "1": "net.0.1", "3": "net.1.0", "4": "net.1.1", "6": "net.2"}


def target_key(key: str, cfg: BlendMaskConfig) -> str | None:
    """The project state_dict key for AdelaiDet key ``key`` under ``cfg``; None when unknown."""
    for pattern, repl in _RULES:
        if pattern.match(key):
            return pattern.sub(repl, key)
    if match := _FPN.match(key):
        kind, level, field = match.groups()
        block = "inner_blocks" if kind == "lateral" else "layer_blocks"
        return f"backbone.fpn.{block}.{int(level) - 3}.0.{field}"
    if match := _TOWER.match(key):
        tower, index, field = match.groups()
        conv, part = divmod(int(index), 3)  # [conv, norm, relu] per layer
        name = {"cls": "cls_tower", "bbox": "box_tower", "share": "share_tower"}[tower]
        return None if part == 2 else f"head.{name}.{conv}.{part}.{field}"
    if match := _BASIS_TOWER.match(key):
        index, rest = int(match.group(1)), match.group(2)
        n = cfg.bottom_num_convs  # [n conv blocks, upsample, conv block, 1x1 conv]
        if index < n:
            return f"bottom.tower.{index}.{rest}"
        return {n + 1: f"bottom.output.1.{rest}", n + 2: f"bottom.output.2.{rest}"}.get(index)
    if match := _SEG_HEAD.match(key):
        layer = _SEG_LAYERS.get(match.group(1))
        return None if layer is None else f"sem_head.{layer}.{match.group(2)}"
    return None


def infer_preset(state: dict[str, Tensor]) -> str:
    """The zoo preset a state_dict's keys describe; ValueError naming the model when unsupported."""
    keys = set(state)
    if not any(k.startswith(_R + "res") for k in keys):
        hint = "DLA" if any(".level" in k or "base_layer" in k for k in keys) else "unknown backbone"
        raise ValueError(
            f"unsupported AdelaiDet model ({hint}): only the ResNet configs {ZOO_PRESETS} can be imported"
        )
    if not any(k.startswith("basis_module.") for k in keys) or "top_layer.weight" not in keys:
        raise ValueError("not a BlendMask checkpoint: no basis_module / top_layer weights")
    depth = 101 if any(k.startswith(_R + "res4.22.") for k in keys) else 50
    deform = any(".conv2_offset." in k for k in keys)
    shared = any(k.startswith(_HEAD + "share_tower.") for k in keys)
    p6, p7 = "backbone.top_block.p6.weight" in keys, "backbone.top_block.p7.weight" in keys
    if depth == 101 and not shared and p7:
        return "R_101_dcni3_5x" if deform else "R_101_3x"
    if depth == 50 and not deform:
        if not shared and p7:
            return "R_50_1x"
        if shared and p6 and not p7:
            return "550_R_50_3x"
        if shared and not p6:
            return "RT_R_50_4x_syncbn_shtw"
    raise ValueError(
        f"unsupported AdelaiDet BlendMask variant (R-{depth}, deformable={deform}, shared tower={shared}, "
        f"P6={p6}, P7={p7}); supported configs: {ZOO_PRESETS}"
    )


def convert_state_dict(state: dict[str, Tensor], cfg: BlendMaskConfig) -> dict[str, Tensor]:
    """Rename every AdelaiDet tensor into a :class:`BlendMask` built from ``cfg``, key-complete.

    Raises ValueError listing unmapped source keys, unfilled target keys or shape mismatches.
    """
    own = BlendMask(cfg).state_dict()
    out: dict[str, Tensor] = {}
    unmapped = []
    for key, value in state.items():
        target = target_key(key, cfg)
        if target is None or target not in own or target in out:
            unmapped.append(key)
        else:
            out[target] = value
    unfilled = sorted(set(own) - set(out))
    if unmapped or unfilled:
        raise ValueError(
            f"checkpoint does not match {describe(cfg)}: "
            + "; ".join(
                f"{label} ({len(keys)}): {', '.join(keys[:10])}{' ...' if len(keys) > 10 else ''}"
                for label, keys in (
                    ("unmapped source keys", sorted(unmapped)),
                    ("unfilled model keys", unfilled),
                )
                if keys
            )
        )
    wrong = [
        f"{k} checkpoint {tuple(v.shape)} / model {tuple(own[k].shape)}"
        for k, v in out.items()
        if v.shape != own[k].shape
    ]
    if wrong:
        raise ValueError(
            f"checkpoint shapes do not match {describe(cfg)} (use --preset / --set to match the "
            f"checkpoint's widths): {', '.join(wrong[:5])}"
        )
    return {k: v.to(own[k].dtype) for k, v in out.items()}


def describe(cfg: BlendMaskConfig) -> str:
    return f"{cfg.backbone} with {cfg.num_levels} levels, {cfg.num_classes} classes"


def import_adelaidet(
    source: str | os.PathLike | dict[str, Tensor], preset: str | None = None, **overrides: Any
) -> dict[str, Any]:
    """AdelaiDet checkpoint (path or state_dict) -> project checkpoint dict (``save_checkpoint``).

    ``preset`` defaults to :func:`infer_preset`; ``overrides`` set any config field (test sizes).
    """
    state = read_state_dict(source) if isinstance(source, (str, os.PathLike)) else dict(source)
    name = preset or infer_preset(state)
    if name not in ZOO_PRESETS:
        raise ValueError(f"unknown AdelaiDet preset {name!r}; choose from {ZOO_PRESETS}")
    cls_key = _HEAD + "cls_logits.weight"
    num_classes = int(state[cls_key].shape[0]) if cls_key in state else 80
    names = (
        list(COCO_CLASSES) if num_classes == len(COCO_CLASSES) else [f"class_{i}" for i in range(num_classes)]
    )
    values = dict(num_classes=num_classes, class_names=names, return_intermediates=True)
    values.update(overrides)
    cfg = BlendMaskConfig.from_preset(name, **values)
    model_state = convert_state_dict(state, cfg)
    return dict(
        model=model_state,
        iteration=0,
        config=cfg.to_dict(),
        categories=list(cfg.class_names or names),
        source=str(Path(source)) if isinstance(source, (str, os.PathLike)) else "state_dict",
        preset=name,
    )


def seeded_state_dict(shapes: dict[str, tuple[int, ...]], seed: int) -> dict[str, Tensor]:
    """Deterministic stand-in weights in AdelaiDet's layout, ``shapes`` in key order.

    Scaled so that a random R-50 still gives spread-out scores, boxes and masks on real photos
    (used by the parity fixture: the official code and this project load the same tensors).
    """
    gen = torch.Generator().manual_seed(seed)

    def normal(shape: tuple[int, ...], std: float, mean: float = 0.0) -> Tensor:
        return torch.randn(shape, generator=gen) * std + mean

    def uniform(shape: tuple[int, ...], lo: float, hi: float) -> Tensor:
        return torch.rand(shape, generator=gen) * (hi - lo) + lo

    out: dict[str, Tensor] = {}
    for key, shape in shapes.items():
        field = key.rsplit(".", 1)[1]
        if field == "num_batches_tracked":
            out[key] = torch.zeros(shape, dtype=torch.int64)
        elif len(shape) == 4:
            fan_in = shape[1] * shape[2] * shape[3]
            std = (2.0 / fan_in) ** 0.5
            if key.startswith(_HEAD + "cls_logits") or key.startswith(_HEAD + "ctrness"):
                std *= 2.0
            elif key.startswith(_HEAD + "bbox_pred"):
                std *= 0.4
            out[key] = normal(shape, std)
        elif field == "weight":  # norm scales
            out[key] = uniform(shape, 0.3, 0.7) if ".conv3.norm" in key else uniform(shape, 0.8, 1.2)
        elif field == "running_mean":
            out[key] = normal(shape, 0.1)
        elif field == "running_var":
            out[key] = uniform(shape, 0.5, 1.5)
        elif key.endswith("cls_logits.bias"):
            out[key] = normal(shape, 0.5, -5.0)
        elif key.endswith("bbox_pred.bias"):
            out[key] = uniform(shape, 1.5, 4.0)
        else:  # conv and norm biases
            out[key] = normal(shape, 0.05)
    return out


__all__ = [
    "COCO_CLASSES",
    "ZOO_PRESETS",
    "convert_state_dict",
    "import_adelaidet",
    "infer_preset",
    "seeded_state_dict",
    "target_key",
]
