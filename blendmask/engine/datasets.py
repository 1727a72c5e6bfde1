"""The COCO-format datasets the engine trains and evaluates on."""

from __future__ import annotations

from pathlib import Path

from ..config import BlendMaskConfig
from ..data import CocoInstances, build_transforms


def coco_train_set(cfg: BlendMaskConfig, image_root: str | Path, ann_file: str | Path) -> CocoInstances:
    """Training split: multi-scale resize by shorter side (``cfg.min_size_train``, ``cfg.max_size_train``)
    and horizontal flips; crowd annotations and images without usable instances left out."""
    transforms = build_transforms(
        train=True, min_sizes=tuple(cfg.min_size_train), max_size=cfg.max_size_train
    )
    return CocoInstances(image_root, ann_file, transforms, train=True, skip_empty=True)


def coco_eval_set(image_root: str | Path, ann_file: str | Path) -> CocoInstances:
    """Evaluation split at the original image size (the model resizes for inference); every image kept."""
    return CocoInstances(image_root, ann_file, None, train=False, skip_empty=False)
