"""``make_subset``: a smaller, valid COCO json with chosen categories and (optionally) fewer images."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np


def make_subset(
    ann_file: str | Path,
    out_file: str | Path,
    *,
    categories: Sequence[str | int] | None = None,
    max_images: int | None = None,
    min_instances: int = 1,
    seed: int = 0,
) -> dict:
    """Write a COCO json holding only ``categories`` (names or ids; None = all), their annotations and
    the images with at least ``min_instances`` non-crowd instances of them; at most ``max_images``
    images, drawn at random with ``seed`` (kept in their original order). ``info`` and ``licenses``
    are kept. Returns a summary ``dict(images, annotations, categories)`` of the written file.
    """
    ann_file, out_file = Path(ann_file), Path(out_file)
    if not ann_file.is_file():
        raise FileNotFoundError(f"COCO annotation file not found: {ann_file}")
    try:
        data = json.loads(ann_file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{ann_file}: malformed JSON ({error})") from error
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            raise ValueError(f"{ann_file}: missing or non-list top-level field {key!r}")
    if max_images is not None and max_images < 1:
        raise ValueError(f"max_images must be >= 1 or None, got {max_images}")

    chosen = _choose_categories(data["categories"], categories, ann_file)
    annotations = [ann for ann in data["annotations"] if ann.get("category_id") in chosen]
    counts = Counter(ann.get("image_id") for ann in annotations if not ann.get("iscrowd", 0))
    images = [image for image in data["images"] if counts[image.get("id")] >= min_instances]
    if max_images is not None and len(images) > max_images:
        picked = np.random.default_rng(seed).choice(len(images), size=max_images, replace=False)
        images = [images[i] for i in sorted(picked.tolist())]
    image_ids = {image["id"] for image in images}

    subset = {key: value for key, value in data.items() if key not in ("images", "annotations", "categories")}
    subset.update(
        images=images,
        annotations=[ann for ann in annotations if ann.get("image_id") in image_ids],
        categories=[category for category in data["categories"] if category["id"] in chosen],
    )
    subset.setdefault("info", {})
    subset.setdefault("licenses", [])
    out_file.parent.mkdir(parents=True, exist_ok=True)
    out_file.write_text(json.dumps(subset))
    return {key: len(subset[key]) for key in ("images", "annotations", "categories")}


def _choose_categories(all_categories: list[dict], wanted: Sequence[str | int] | None, ann_file: Path) -> set:
    """COCO ids of the wanted categories (by name or id); an unknown one raises naming it."""
    by_name = {category["name"]: category["id"] for category in all_categories}
    ids = set(by_name.values())
    if wanted is None:
        return ids
    if isinstance(wanted, (str, int)):
        wanted = [wanted]
    chosen = set()
    for item in wanted:
        if isinstance(item, str) and item in by_name:
            chosen.add(by_name[item])
        elif isinstance(item, str) and item.isdigit() and int(item) in ids:
            chosen.add(int(item))
        elif isinstance(item, int) and item in ids:
            chosen.add(item)
        else:
            raise ValueError(f"{ann_file}: unknown category {item!r}; known: {sorted(by_name)}")
    return chosen
