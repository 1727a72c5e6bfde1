"""The embedded default dataset: overlapping shapes on textured, noisy backgrounds, in COCO format.

``make_synthetic_coco`` writes ``root/{train,val}/*.png`` and ``root/annotations/instances_{train,val}.json``
(real COCO instance format), so that the demo exercises exactly the code path of COCO. Shapes are drawn
in order, later ones occluding earlier ones; every annotation is the shape's *visible* part. An unoccluded
shape is written as its polygon, an occluded one as compressed RLE; ``area`` and ``bbox`` come from the mask.
A placement that would hide too much of an earlier shape is re-drawn, so no unannotated fragment remains.

Every image has its own RNG seeded by ``(seed, split, index)``; the same seed gives byte-identical files.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils

SHAPES = ("ellipse", "rectangle", "triangle", "star", "cross", "pentagon")
"""Class names in label order; ``num_classes`` takes the first ones."""

SPLITS = {"train": 0, "val": 1}
REFERENCE_SIZE = 128  # shape sizes below are given at this image size and scaled with it
SHAPE_SIZE = (16.0, 70.0)  # extent of a shape (px at REFERENCE_SIZE)
SHAPES_PER_IMAGE = (2, 5)
MIN_VISIBLE_FRACTION = 0.5  # an earlier shape must keep this much of itself visible
MIN_AREA = 48.0  # px at REFERENCE_SIZE
PLACEMENT_TRIES = 8
PNG_OPTIONS = {"compress_level": 6, "compress_type": 2}  # zlib Z_HUFFMAN_ONLY: fast on noisy pixels


@dataclass(frozen=True)
class SyntheticCoco:
    """Paths written by ``make_synthetic_coco``."""

    root: Path
    train_images: Path
    train_ann: Path
    val_images: Path
    val_ann: Path


def make_synthetic_coco(
    root: str | Path,
    *,
    num_train: int = 400,
    num_val: int = 100,
    image_size: int = 128,
    num_classes: int = 3,
    seed: int = 0,
) -> SyntheticCoco:
    """Write the synthetic train/val splits under ``root`` and return their paths.

    Images are ``image_size`` x ``image_size`` RGB PNGs with 2-5 shapes of ``num_classes`` kinds
    (``SHAPES[:num_classes]``, at most 6).
    """
    if not 1 <= num_classes <= len(SHAPES):
        raise ValueError(f"num_classes must be in 1..{len(SHAPES)}, got {num_classes}")
    if image_size < 32:
        raise ValueError(f"image_size must be >= 32, got {image_size}")
    if num_train < 0 or num_val < 0:
        raise ValueError(f"num_train and num_val must be >= 0, got {num_train}, {num_val}")
    root = Path(root)
    ann_dir = root / "annotations"
    ann_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for split, count in (("train", num_train), ("val", num_val)):
        image_dir = root / split
        image_dir.mkdir(parents=True, exist_ok=True)
        ann_file = ann_dir / f"instances_{split}.json"
        dataset = _write_split(image_dir, split, count, image_size, num_classes, seed)
        ann_file.write_text(json.dumps(dataset, sort_keys=True, separators=(",", ":")))
        paths[split] = (image_dir, ann_file)
    return SyntheticCoco(root, paths["train"][0], paths["train"][1], paths["val"][0], paths["val"][1])


def _write_split(image_dir: Path, split: str, count: int, size: int, num_classes: int, seed: int) -> dict:
    images, annotations = [], []
    for index in range(count):
        image_id = index + 1
        file_name = f"{split}_{index:06d}.png"
        pixels, instances = render_image(seed, split, index, size, num_classes)
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="PNG", **PNG_OPTIONS)
        (image_dir / file_name).write_bytes(buffer.getvalue())
        images.append({"id": image_id, "file_name": file_name, "width": size, "height": size})
        for instance in instances:
            instance.update(id=len(annotations) + 1, image_id=image_id)
            annotations.append(instance)
    return {
        "info": {"description": f"BlendMask Lab synthetic shapes ({split}, seed {seed})", "version": "1.0"},
        "licenses": [],
        "images": images,
        "annotations": annotations,
        "categories": [
            {"id": label + 1, "name": name, "supercategory": "shape"}
            for label, name in enumerate(SHAPES[:num_classes])
        ],
    }


def render_image(
    seed: int, split: str, index: int, size: int, num_classes: int
) -> tuple[np.ndarray, list[dict]]:
    """One image ``(size, size, 3)`` uint8 and its COCO annotations (without ``id``/``image_id``)."""
    rng = np.random.default_rng([seed, SPLITS[split], index])
    scale = size / REFERENCE_SIZE
    background = _background(rng, size)
    canvas = background.copy()
    placed: list[dict] = []  # label, polygon, rle, area, mask, visible, occluded, colour
    for _ in range(int(rng.integers(SHAPES_PER_IMAGE[0], SHAPES_PER_IMAGE[1] + 1))):
        shape = _place_shape(rng, placed, size, scale, num_classes)
        if shape is None:
            continue
        for other in placed:
            other["visible"] &= ~shape["mask"]
            other["occluded"] = other["occluded"] or np.count_nonzero(other["visible"]) < other["area"]
        x0, y0, x1, y1 = shape["box"]
        under = background[y0:y1:2, x0:x1:2].reshape(-1, 3).mean(0)
        shape["colour"] = _pick_colour(rng, under, [other["colour"] for other in placed])
        canvas[shape["mask"]] = shape["colour"]
        placed.append(shape)
    spread = int(rng.integers(5, 18))
    canvas += rng.integers(-spread, spread + 1, canvas.shape, dtype=np.int16)
    pixels = np.clip(canvas, 0, 255).astype(np.uint8)
    return pixels, [_annotation(shape, size) for shape in placed]


def _annotation(shape: dict, size: int) -> dict:
    if shape["occluded"]:
        rle = mask_utils.encode(np.asfortranarray(shape["visible"].view(np.uint8)))
        segmentation = {"size": [size, size], "counts": rle["counts"].decode("ascii")}
    else:
        rle = shape["rle"]
        segmentation = [shape["polygon"]]
    return {
        "category_id": shape["label"] + 1,
        "segmentation": segmentation,
        "area": float(mask_utils.area(rle)),
        "bbox": [float(v) for v in mask_utils.toBbox(rle)],
        "iscrowd": 0,
    }


def _place_shape(rng: np.random.Generator, placed: list[dict], size: int, scale: float, num_classes: int):
    """A shape whose addition leaves every earlier shape sufficiently visible, or None."""
    min_area = MIN_AREA * scale * scale
    for _ in range(PLACEMENT_TRIES):
        label = int(rng.integers(num_classes))
        extent = rng.uniform(*SHAPE_SIZE) * scale
        outline = _outline(rng, SHAPES[label], extent)
        low, high = outline.min(0), outline.max(0)
        offset = rng.uniform(1.0 - low, size - 1.0 - high)
        polygon = np.round(outline + offset, 2).ravel().tolist()
        rle = mask_utils.frPyObjects([polygon], size, size)[0]
        area = int(mask_utils.area(rle))
        if area < min_area:
            continue
        mask = mask_utils.decode(rle).astype(bool)
        if all(
            np.count_nonzero(other["visible"] > mask) >= max(min_area, MIN_VISIBLE_FRACTION * other["area"])
            for other in placed
        ):
            x0, y0 = np.floor(low + offset).astype(int)
            x1, y1 = np.ceil(high + offset).astype(int)
            return {
                "label": label,
                "polygon": polygon,
                "rle": rle,
                "area": area,
                "mask": mask,
                "visible": mask.copy(),
                "occluded": False,
                "box": (x0, y0, x1 + 1, y1 + 1),
            }
    return None


def _outline(rng: np.random.Generator, kind: str, extent: float) -> np.ndarray:
    """Polygon vertices ``(V, 2)`` (x, y) of a shape of about ``extent`` px, centred at 0."""
    radius = extent / 2
    if kind == "ellipse":
        t = np.linspace(0, 2 * np.pi, 32, endpoint=False)
        points = np.stack([np.cos(t), rng.uniform(0.5, 1.0) * np.sin(t)], 1) * radius
        angle = rng.uniform(-np.pi / 2, np.pi / 2)
    elif kind == "rectangle":
        half = np.array([1.0, rng.uniform(0.45, 1.0)]) * radius * 0.85
        points = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * half
        angle = rng.uniform(-0.35, 0.35)
    elif kind == "triangle":
        t = np.pi / 2 + np.arange(3) * 2 * np.pi / 3 + rng.uniform(-0.25, 0.25, 3)
        points = np.stack([np.cos(t), np.sin(t)], 1) * radius
        angle = rng.uniform(0, 2 * np.pi)
    elif kind == "star":
        t = np.arange(10) * np.pi / 5
        r = np.where(np.arange(10) % 2 == 0, 1.0, rng.uniform(0.4, 0.55))
        points = np.stack([np.cos(t) * r, np.sin(t) * r], 1) * radius
        angle = rng.uniform(0, 2 * np.pi)
    elif kind == "cross":
        a = rng.uniform(0.3, 0.45)
        unit = [
            (-a, -1),
            (a, -1),
            (a, -a),
            (1, -a),
            (1, a),
            (a, a),
            (a, 1),
            (-a, 1),
            (-a, a),
            (-1, a),
            (-1, -a),
            (-a, -a),
        ]
        points = np.array(unit) * radius
        angle = rng.uniform(0, np.pi / 2)
    else:  # pentagon
        t = np.arange(5) * 2 * np.pi / 5
        points = np.stack([np.cos(t), np.sin(t)], 1) * radius
        angle = rng.uniform(0, 2 * np.pi)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return points @ rotation.T


def _pick_colour(rng: np.random.Generator, under: np.ndarray, others: list[np.ndarray]) -> np.ndarray:
    """A random RGB colour that stands out from the background under it and from the other shapes."""
    best, best_gap = None, -1.0
    for _ in range(12):
        colour = rng.uniform(0, 255, 3).astype(np.float32)
        gap = min([np.linalg.norm(colour - under) / 1.5] + [np.linalg.norm(colour - o) for o in others])
        if gap > best_gap:
            best, best_gap = colour, gap
        if gap >= 90:
            break
    return best


@lru_cache(maxsize=4)
def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    return x, y


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A ``(size, size, 3)`` float32 texture: a colour gradient plus stripes, checks or blotches."""
    x, y = _grid(size)
    a, b = rng.uniform(30, 225, 3), rng.uniform(30, 225, 3)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = np.float32(np.cos(angle)) * x + np.float32(np.sin(angle)) * y
    ramp = (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1e-6)
    amplitude = rng.uniform(10, 35) * np.where(rng.random(3) < 0.5, -1.0, 1.0)
    kind = int(rng.integers(3))
    if kind == 0:  # stripes
        turn, cycles = rng.uniform(0, np.pi), rng.uniform(3, 12)
        phase = np.float32(np.cos(turn)) * x + np.float32(np.sin(turn)) * y
        pattern = np.sin(np.float32(2 * np.pi * cycles) * phase)
    elif kind == 1:  # checks
        w = np.float32(2 * np.pi * rng.uniform(2, 8))
        pattern = np.sign(np.sin(w * x[:1]) * np.sin(w * y[:, :1]))
    else:  # blotches: low-resolution noise, bilinearly upsampled
        coarse = rng.normal(0, 1, (6, 6)).astype(np.float32)
        pattern = np.asarray(Image.fromarray(coarse).resize((size, size), Image.BILINEAR))
    basis = np.stack([np.ones_like(ramp), ramp, pattern], -1)  # (size, size, 3): 1, ramp, pattern
    return basis @ np.stack([a, b - a, amplitude]).astype(np.float32)
