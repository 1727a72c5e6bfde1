"""Data: COCO instances, COCO subsets, the embedded synthetic COCO-format set, transforms and collation."""

from blendmask.data.coco import CocoInstances
from blendmask.data.images import image_files, read_image, to_image_tensor
from blendmask.data.subset import make_subset
from blendmask.data.synthetic import SyntheticCoco, make_synthetic_coco
from blendmask.data.transforms import build_transforms, collate

__all__ = [
    "CocoInstances",
    "SyntheticCoco",
    "build_transforms",
    "collate",
    "image_files",
    "make_subset",
    "make_synthetic_coco",
    "read_image",
    "to_image_tensor",
]
