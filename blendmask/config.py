"""BlendMaskConfig: every knob of the model (paper §3.3, §4) and its training schedule.

A config is a flat dataclass that round-trips through a plain JSON-able dict (``to_dict`` /
``from_dict``), so checkpoints can carry it. ``R_K_M`` strings such as ``"56_4_14"`` set the
bottom resolution R, the number of bases K and the attention size M.

Pixel statistics are on the 0..255 scale, in the channel order given by ``input_format``; the
model multiplies its 0..1 RGB input by 255, reorders channels for ``"BGR"``, then normalises.
The official presets use the caffe-style BGR statistics of detectron2's ResNet weights; when
loading torchvision ``backbone_weights`` use RGB with ImageNet mean/std (as ``cpu_tiny`` does).
The named presets live in ``blendmask.presets``; ``BlendMaskConfig.from_preset`` builds one.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any

from .presets import PRESETS
from .structures import BlendSettings

METHODS = ("blender", "weighted_sum", "assembler")
POOLERS = ("bilinear", "nearest")
RESIZE_MODES = ("tensor", "pil")
POSTPROCESS = ("clip_first", "detectron2")
INTERPOLATIONS = ("bilinear", "nearest")
BACKBONES = ("resnet18", "resnet34", "resnet50", "resnet101", "mobilenet_v2")
BOTTOM_MODULES = ("protonet", "proto_fpn", "proto_p3", "deeplabv3plus")
BOTTOM_FEATURES = ("c3", "c4", "c5", "p3", "p4", "p5")
NORMS = ("GN", "BN", "none")
OPTIMIZERS = ("sgd", "adamw")
LR_SCHEDULES = ("step", "cosine")

CAFFE_BGR_MEAN = (103.53, 116.28, 123.675)

_RKM = re.compile(r"^(\d+)_(\d+)_(\d+)$")


@dataclass
class BlendMaskConfig:
    """All settings of a BlendMask model. Defaults are the official R-50 1x architecture (56_4_14);
    the ``R_50_1x`` preset adds how AdelaiDet computes it (stride in 1x1, biased tower convs, PIL
    resize, detectron2 post-processing)."""

    # --- task
    num_classes: int = 80
    class_names: list[str] | None = None

    # --- input
    input_format: str = "BGR"  # channel order the backbone expects: "RGB" | "BGR"
    pixel_mean: tuple[float, ...] = CAFFE_BGR_MEAN  # 0..255 scale, in input_format order
    pixel_std: tuple[float, ...] = (1.0, 1.0, 1.0)
    size_divisibility: int = 32
    min_size_train: tuple[int, ...] = (640, 672, 704, 736, 768, 800)
    max_size_train: int = 1333
    min_size_test: int | None = 800  # None = keep the image size
    max_size_test: int | None = 1333
    resize_mode: str = "tensor"  # test-time resize: "tensor" (antialiased, float) | "pil" (bilinear, uint8)

    # --- backbone + FPN
    backbone: str = "resnet50"
    backbone_weights: str | None = (
        None  # torchvision weights enum name, e.g. "ResNet50_Weights.IMAGENET1K_V1"
    )
    frozen_bn: bool = True  # torchvision FrozenBatchNorm2d in the backbone
    freeze_at: int = 2  # 0 none, 1 stem, 2 stem + res2, ... (detectron2 FREEZE_AT)
    fpn_channels: int = 256
    fpn_max_level: int = 7  # 7: P3..P7 with P6/P7 from P5 (FCOS); 6: P3..P6; 5: P3..P5 (BlendMask-RT)
    stride_in_1x1: bool = False  # ResNet bottleneck stride on the first 1x1 (detectron2/MSRA) or the 3x3
    deform_interval: int = 0  # > 0: modulated deformable 3x3 in res3..res5, every n-th block (DCN)

    # --- FCOS
    fcos_channels: int = 256
    fcos_num_convs: int = 4
    fcos_shared_tower: bool = False  # BlendMask-RT: one tower feeds cls, box, ctr and the top layer
    fcos_norm: str = "GN"
    fcos_conv_bias: bool = False  # tower convs keep their bias before the norm (AdelaiDet)
    fcos_use_scale: bool = False  # learnable per-level scale on the box regression
    fcos_prior_prob: float = 0.01
    fcos_sizes_of_interest: tuple[int, ...] = (64, 128, 256, 512)  # one fewer than the levels
    fcos_center_sample_radius: float = 1.5
    fcos_focal_alpha: float = 0.25
    fcos_focal_gamma: float = 2.0
    fcos_giou_plus_one: bool = False  # AdelaiDet's IoU: (intersection + 1) / (union + 1) in the GIoU
    fcos_score_thresh: float = 0.05  # on sigmoid(cls) * sigmoid(ctr)
    fcos_pre_nms_topk: int = 1000  # per level
    fcos_nms_thresh: float = 0.6
    fcos_post_nms_topk: int = 100  # detections per image
    max_positives_per_image: int | None = None  # cap on the positives that pay the mask loss

    # --- bottom module (bases)
    bottom_module: str = "protonet"
    bottom_in_features: tuple[str, ...] = ("p3", "p4", "p5")
    bottom_channels: int = 128
    bottom_num_convs: int = 3
    bottom_norm: str = "BN"
    bases_stride: int = 4
    num_bases: int = 4  # K

    # --- auxiliary semantic loss on P3
    sem_loss: bool = True
    sem_loss_weight: float = 0.3
    sem_channels: int = 128

    # --- blender
    bottom_resolution: int = 56  # R
    attn_size: int = 14  # M
    method: str = "blender"
    pooler: str = "bilinear"  # "bilinear" = RoIAlign (aligned, sampling ratio 1) | "nearest" = RoIPool
    top_interp: str = "bilinear"
    mask_loss_weight: float = 1.0
    mask_threshold: float = 0.5
    return_intermediates: bool = True
    # "clip_first": clip boxes to the input before NMS and blend on the unpadded bases;
    # "detectron2": NMS and blender on the unclipped boxes and the padded bases, then clip to the
    # image, drop empty boxes and paste into the clipped boxes (AdelaiDet / detectron2).
    postprocess: str = "clip_first"

    # --- training schedule (used by the engine)
    optimizer: str = "sgd"
    lr: float = 0.01
    weight_decay: float = 1e-4
    momentum: float = 0.9
    batch_size: int = 16
    max_iter: int = 90000
    warmup_iters: int = 1000
    lr_schedule: str = "step"
    lr_steps: tuple[int, ...] = (60000, 80000)
    grad_clip: float | None = None

    def __post_init__(self) -> None:
        self._validate()

    # ------------------------------------------------------------------ validation
    def _validate(self) -> None:
        def check(ok: bool, name: str, message: str) -> None:
            if not ok:
                raise ValueError(f"BlendMaskConfig.{name}: {message}")

        def one_of(name: str, options: tuple[str, ...]) -> None:
            check(
                getattr(self, name) in options, name, f"must be one of {options}, got {getattr(self, name)!r}"
            )

        one_of("method", METHODS)
        one_of("pooler", POOLERS)
        one_of("top_interp", INTERPOLATIONS)
        one_of("backbone", BACKBONES)
        one_of("bottom_module", BOTTOM_MODULES)
        one_of("fcos_norm", NORMS)
        one_of("bottom_norm", NORMS)
        one_of("input_format", ("RGB", "BGR"))
        one_of("optimizer", OPTIMIZERS)
        one_of("lr_schedule", LR_SCHEDULES)
        one_of("resize_mode", RESIZE_MODES)
        one_of("postprocess", POSTPROCESS)
        check(self.deform_interval >= 0, "deform_interval", f"must be >= 0, got {self.deform_interval}")
        if self.deform_interval or self.stride_in_1x1:
            check(
                self.backbone in ("resnet50", "resnet101"),
                "backbone",
                f"stride_in_1x1 / deform_interval need a bottleneck ResNet, got {self.backbone!r}",
            )
        check(self.num_classes >= 1, "num_classes", f"must be >= 1, got {self.num_classes}")
        if self.class_names is not None:
            check(
                len(self.class_names) == self.num_classes,
                "class_names",
                f"has {len(self.class_names)} names but num_classes = {self.num_classes}",
            )
        check(self.bases_stride in (4, 8), "bases_stride", f"must be 4 or 8, got {self.bases_stride}")
        for name in ("num_bases", "attn_size", "bottom_resolution", "fcos_num_convs", "fcos_post_nms_topk"):
            check(getattr(self, name) >= 1, name, f"must be >= 1, got {getattr(self, name)}")
        check(self.bottom_num_convs >= 0, "bottom_num_convs", f"must be >= 0, got {self.bottom_num_convs}")
        check(
            self.fpn_max_level in (5, 6, 7), "fpn_max_level", f"must be 5, 6 or 7, got {self.fpn_max_level}"
        )
        check(
            len(self.fcos_sizes_of_interest) == self.num_levels - 1,
            "fcos_sizes_of_interest",
            f"needs {self.num_levels - 1} values for levels P3..P{self.fpn_max_level}, "
            f"got {self.fcos_sizes_of_interest}",
        )
        check(
            len(self.pixel_mean) == 3 and len(self.pixel_std) == 3, "pixel_mean", "mean and std need 3 values"
        )
        if self.method == "weighted_sum":
            check(
                self.attn_size == 1,
                "attn_size",
                f"weighted_sum is the blender with M = 1, got M = {self.attn_size}",
            )
        if self.method == "assembler":
            check(
                self.num_bases == self.attn_size**2,
                "num_bases",
                f"assembler needs K = M*M bases, got K = {self.num_bases}, M = {self.attn_size}",
            )
        feats = self.bottom_in_features
        check(
            len(feats) >= 1 and all(f in BOTTOM_FEATURES for f in feats),
            "bottom_in_features",
            f"must name features from {BOTTOM_FEATURES}, got {feats}",
        )
        if self.bottom_module == "deeplabv3plus":
            check(
                len(feats) == 2 and feats[0][0] == feats[1][0],
                "bottom_in_features",
                f"deeplabv3plus takes (low, high) of one kind: ('c3', 'c5') or ('p3', 'p5'), got {feats}",
            )
        else:
            check(
                all(f.startswith("p") for f in feats),
                "bottom_in_features",
                f"{self.bottom_module} reads FPN features (p3..p5), got {feats}",
            )
        if self.bottom_module == "proto_p3":
            check(feats == ("p3",), "bottom_in_features", f"proto_p3 reads ('p3',) only, got {feats}")
        if self.min_size_test is None:
            check(self.max_size_test is None, "max_size_test", "must be None when min_size_test is None")
        check(len(self.min_size_train) >= 1, "min_size_train", "needs at least one size")
        if self.max_positives_per_image is not None:
            check(self.max_positives_per_image >= 1, "max_positives_per_image", "must be >= 1 or None")

    # ------------------------------------------------------------------ derived values
    @property
    def num_levels(self) -> int:
        """Number of FPN levels the FCOS head runs on (P3..P{fpn_max_level})."""
        return self.fpn_max_level - 2

    @property
    def fpn_strides(self) -> tuple[int, ...]:
        return tuple(2**level for level in range(3, self.fpn_max_level + 1))

    @property
    def rkm(self) -> str:
        """The paper's ``R_K_M`` name of this blender, e.g. ``"56_4_14"``."""
        return f"{self.bottom_resolution}_{self.num_bases}_{self.attn_size}"

    @property
    def blend_args(self) -> BlendSettings:
        """The settings of ``blender.blend`` this model blends with."""
        return BlendSettings(
            resolution=self.bottom_resolution,
            stride=self.bases_stride,
            method=self.method,
            attn_size=self.attn_size,
            pooler=self.pooler,
            top_interp=self.top_interp,
        )

    # ------------------------------------------------------------------ constructors
    def with_rkm(self, rkm: str) -> BlendMaskConfig:
        """A copy with R, K, M taken from a string like ``"28_4_4"``."""
        return dataclasses.replace(self, **parse_rkm(rkm))

    def with_iters(self, iters: int) -> BlendMaskConfig:
        """The same schedule in ``iters`` iterations: the lr steps keep their place as fractions of the
        run, and the warm-up is capped at a tenth of it (at least one iteration)."""
        if isinstance(iters, bool) or not isinstance(iters, int) or iters <= 0:
            raise ValueError(f"iters must be a positive whole number of iterations, got {iters!r}")
        scale = iters / self.max_iter
        return dataclasses.replace(
            self,
            max_iter=iters,
            lr_steps=tuple(round(step * scale) for step in self.lr_steps),
            warmup_iters=min(self.warmup_iters, max(1, iters // 10)),
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (tuples become lists)."""
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, tuple):
                value = list(value)
            elif isinstance(value, list):
                value = list(value)
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BlendMaskConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise ValueError naming them."""
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ValueError(f"BlendMaskConfig.from_dict: unknown fields {unknown}")
        kwargs = {}
        for name, value in data.items():
            default = known[name].default
            if isinstance(default, tuple) and isinstance(value, list):
                value = tuple(value)
            kwargs[name] = value
        return cls(**kwargs)

    @classmethod
    def from_preset(cls, name: str, *, rkm: str | None = None, **overrides: Any) -> BlendMaskConfig:
        """A preset (see ``PRESETS``) with ``overrides`` applied; ``rkm="28_4_4"`` sets R, K, M."""
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; choose from {sorted(PRESETS)}")
        values = dict(PRESETS[name])
        if rkm is not None:
            values.update(parse_rkm(rkm))
        unknown = sorted(set(overrides) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ValueError(f"BlendMaskConfig.from_preset({name!r}): unknown fields {unknown}")
        values.update(overrides)
        return cls(**values)


def parse_rkm(rkm: str) -> dict[str, int]:
    """``"56_4_14"`` -> dict(bottom_resolution=56, num_bases=4, attn_size=14)."""
    match = _RKM.match(rkm.strip())
    if match is None:
        raise ValueError(f"R_K_M string must look like '56_4_14', got {rkm!r}")
    r, k, m = (int(g) for g in match.groups())
    return dict(bottom_resolution=r, num_bases=k, attn_size=m)
