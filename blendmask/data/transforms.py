"""Joint image/box/mask transforms on torchvision.transforms.v2, and batch collation.

A transform takes and returns ``(image, target)`` where ``image`` is a float tensor ``(3, H, W)`` and
``target`` holds ``boxes`` (N, 4) xyxy, ``labels`` (N,), ``masks`` (N, H, W) bool; boxes and masks move
with the image. Instances whose box became degenerate are dropped (with their labels and masks).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor
from torchvision import tv_tensors
from torchvision.transforms import v2

Sample = tuple[Tensor, dict]


class _Wrap(torch.nn.Module):
    """Tag plain tensors as tv_tensors so that v2 transforms move boxes and masks with the image."""

    def forward(self, image: Tensor, target: dict) -> Sample:
        height, width = image.shape[-2:]
        target = dict(target)
        boxes = tv_tensors.BoundingBoxes(target["boxes"], format="XYXY", canvas_size=(height, width))
        target["boxes"] = boxes
        target["masks"] = tv_tensors.Mask(target["masks"])
        return tv_tensors.Image(image), target


class _Unwrap(torch.nn.Module):
    """Return plain tensors: float32 image, float32 boxes, int64 labels, bool masks."""

    def forward(self, image: Tensor, target: dict) -> Sample:
        target = dict(target)
        target["boxes"] = target["boxes"].as_subclass(Tensor).float()
        target["masks"] = target["masks"].as_subclass(Tensor).bool()
        target["labels"] = target["labels"].as_subclass(Tensor).long()
        return image.as_subclass(Tensor).float(), target


def build_transforms(
    *,
    train: bool,
    min_sizes: tuple[int, ...] | None,
    max_size: int | None,
    flip_prob: float = 0.5,
) -> Callable[[Tensor, dict], Sample]:
    """Resize by the shorter side (a random choice of ``min_sizes`` in training, ``min_sizes[0]``
    otherwise) with the longer side capped at ``max_size``, then (training only) flip horizontally
    with ``flip_prob``. ``min_sizes=None`` keeps the image size.
    """
    if min_sizes is None and max_size is not None:
        raise ValueError("build_transforms: max_size needs min_sizes (min_sizes=None keeps the image size)")
    if min_sizes is not None and (len(min_sizes) == 0 or min(min_sizes) <= 0):
        raise ValueError(f"build_transforms: min_sizes must be positive sizes, got {min_sizes!r}")
    steps: list[torch.nn.Module] = [_Wrap()]
    if min_sizes is not None:
        if train:
            steps.append(v2.RandomShortestSize(list(min_sizes), max_size=max_size, antialias=True))
        else:
            steps.append(v2.Resize(min_sizes[0], max_size=max_size, antialias=True))
    if train and flip_prob > 0:
        steps.append(v2.RandomHorizontalFlip(flip_prob))
    steps += [v2.ClampBoundingBoxes(), v2.SanitizeBoundingBoxes(min_size=1.0), _Unwrap()]
    return v2.Compose(steps)


def collate(batch: list[Sample]) -> tuple[list[Tensor], list[dict]]:
    """``[(image, target), ...]`` -> ``([image, ...], [target, ...])`` (images keep their own sizes)."""
    images, targets = zip(*batch, strict=True) if batch else ((), ())
    return list(images), list(targets)
