"""The model's output types: one image's :class:`Prediction` and the :class:`BlendSettings` of its masks.

A Prediction is read by attribute (``pred.boxes``) or, like torchvision's detection dicts, by key
(``pred["boxes"]``, ``"masks" in pred``, ``pred.get("labels")``, ``pred.keys()``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

Index = int | slice | Sequence[int] | Tensor


@dataclass(frozen=True)
class BlendSettings:
    """The settings of ``blender.blend`` a model blends with (see :func:`blendmask.modeling.blender.blend`).

    Read by attribute or by key (``settings["stride"]``); ``blend(bases, boxes, attentions,
    **settings.kwargs())`` calls the blender with them.
    """

    resolution: int  # R, side of the cropped bases and the mask logits
    stride: int  # stride of the bases w.r.t. the input image
    method: str  # "blender", "assembler" or "weighted_sum"
    attn_size: int  # M, side of the predicted attentions
    pooler: str  # how the bases are cropped
    top_interp: str  # how the M x M attentions are resized to R x R

    def __getitem__(self, name: str) -> Any:
        if name not in self.kwargs():
            raise KeyError(name)
        return getattr(self, name)

    def kwargs(self) -> dict[str, Any]:
        """The settings as keyword arguments of ``blend``."""
        return dataclasses.asdict(self)


DETECTION_FIELDS = ("boxes", "scores", "labels", "masks")
INTERMEDIATE_FIELDS = (
    "bases",
    "input_boxes",
    "attentions",
    "rois",
    "mask_logits",
    "image_size",
    "input_size",
    "scale",
    "blend_args",
)
PER_DETECTION_FIELDS = DETECTION_FIELDS + ("input_boxes", "attentions", "rois", "mask_logits")


@dataclass(eq=False)
class Prediction:
    """One image's detections (D of them) in the original image size, with the blender's intermediates.

    The intermediates are set when the model runs with ``return_intermediates`` (``attentions`` stays
    None for the assembler, which has none). The keys are the four detection fields and the
    intermediates that are set, ``attentions`` whenever ``rois`` is.
    ``len(pred)`` is D; iterating a Prediction, like a dict, yields its keys.
    """

    boxes: Tensor  # (D, 4) xyxy, original image pixels
    scores: Tensor  # (D,)
    labels: Tensor  # (D,) int64, 0..C-1
    masks: Tensor  # (D, H, W) bool, original image size
    bases: Tensor | None = None  # (K, h, w), cropped to the unpadded input
    input_boxes: Tensor | None = None  # (D, 4) xyxy, input (resized) image pixels
    attentions: Tensor | None = None  # (D, K, M, M) pre-softmax; None for the assembler
    rois: Tensor | None = None  # (D, K, R, R) bases cropped in the input boxes
    mask_logits: Tensor | None = None  # (D, R, R)
    image_size: tuple[int, int] | None = None  # (H, W) original
    input_size: tuple[int, int] | None = None  # (h, w) resized input, unpadded
    scale: tuple[float, float] | None = None  # (sy, sx) = input / original
    blend_args: BlendSettings | None = None  # the settings the masks were blended with

    # ------------------------------------------------------------------ reading by key
    def keys(self) -> tuple[str, ...]:
        """The detection fields and the intermediates that are set (``attentions`` with ``rois``)."""
        present = tuple(
            name
            for name in INTERMEDIATE_FIELDS
            if getattr(self, name) is not None or (name == "attentions" and self.rois is not None)
        )
        return DETECTION_FIELDS + present

    def __getitem__(self, key: str) -> Any:
        if key not in self.keys():
            raise KeyError(key)
        return getattr(self, key)

    def __contains__(self, key: object) -> bool:
        return key in self.keys()

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def get(self, key: str, default: Any = None) -> Any:
        return self[key] if key in self else default

    def values(self) -> list[Any]:
        return [getattr(self, key) for key in self.keys()]

    def items(self) -> list[tuple[str, Any]]:
        return [(key, getattr(self, key)) for key in self.keys()]

    def __len__(self) -> int:
        return int(self.boxes.shape[0])

    # ------------------------------------------------------------------ selection
    def select(self, index: Index) -> Prediction:
        """The detections at ``index`` (an int, a slice, indices or a (D,) bool mask), in that order;
        the per-image fields (bases, sizes, scale, blend settings) are kept. An int keeps the
        detection dimension: ``pred.select(0)`` has length 1."""
        if isinstance(index, int):
            index = [index]
        if not isinstance(index, slice | Tensor):
            index = torch.as_tensor(index, dtype=torch.int64)
        fields = {}
        for name in PER_DETECTION_FIELDS:
            value = getattr(self, name)
            if value is not None:
                fields[name] = value[index.to(value.device) if isinstance(index, Tensor) else index]
        return dataclasses.replace(self, **fields)

    def indices_above(self, score_threshold: float) -> Tensor:
        """(D',) int64: the indices of the detections scoring >= ``score_threshold``, in order."""
        return torch.nonzero(self.scores >= score_threshold).flatten()

    def above(self, score_threshold: float) -> Prediction:
        """The detections scoring >= ``score_threshold``."""
        return self.select(self.indices_above(score_threshold))

    # ------------------------------------------------------------------ devices
    def to(self, device: str | torch.device) -> Prediction:
        """The same prediction with every tensor on ``device``."""
        return self._map(lambda tensor: tensor.to(device))

    def cpu(self) -> Prediction:
        """The same prediction with every tensor detached and on the CPU."""
        return self._map(lambda tensor: tensor.detach().cpu())

    def _map(self, fn) -> Prediction:
        fields = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, Tensor):
                fields[field.name] = fn(value)
        return dataclasses.replace(self, **fields)
