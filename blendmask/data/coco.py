"""``CocoInstances``: a Dataset over any COCO instance-segmentation json (polygons and RLE via pycocotools).

Bad input never crashes an epoch: a missing file/folder or a malformed json raises an error naming the
path, field and id; bad records (missing image file, annotation for an unknown image, degenerate box,
polygon with < 3 points, ...) are skipped and counted, summarised by ``report()`` and logged once.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
from collections import Counter
from collections.abc import Callable
from numbers import Real
from pathlib import Path

import numpy as np
import torch
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from torch import Tensor
from torch.utils.data import Dataset

from ..errors import ImageReadError, UsageError
from .images import read_image

logger = logging.getLogger(__name__)

IMAGE_FIELDS = ("id", "file_name", "height", "width")
ANNOTATION_FIELDS = ("id", "image_id", "category_id", "segmentation")
CATEGORY_FIELDS = ("id", "name")

# counted-skip reasons (keys of ``CocoInstances.skipped``)
MISSING_FILE = "missing image file"
UNKNOWN_IMAGE = "annotation for unknown image id"
DEGENERATE_BOX = "zero-area or degenerate box"
SHORT_POLYGON = "polygon with < 3 points"
RLE_SIZE = "RLE size differs from image size"
NO_INSTANCE = "training image without usable instance"
UNREADABLE = "unreadable image file"
SIZE_MISMATCH = "image size differs from its json entry"
EMPTY_MASK = "empty mask"
EMPTY_SEGMENTATION = "empty segmentation"
BOX_OUTSIDE = "box outside the image"


class CocoInstances(Dataset):
    """COCO instance segmentation. Item ``(image, target)``:

    image   float32 ``(3, H, W)`` RGB in 0..1 (grayscale / RGBA / palette converted)
    target  ``boxes (N, 4)`` float xyxy px, ``labels (N,)`` int64 in ``0..C-1``, ``masks (N, H, W)`` bool,
            ``image_id`` int (the COCO id); crowd annotations are left out.

    ``transforms(image, target) -> (image, target)`` is applied last. With ``train=True`` and
    ``skip_empty``, images without a usable instance are left out (evaluation keeps every image).
    An unreadable image (or one whose size differs from the json) is counted and replaced by the
    next readable one in training; in evaluation ``__getitem__`` raises :class:`ImageReadError`, so
    that the evaluator can leave the image (and its ground truth) out and say so.
    Attributes: ``categories`` (names in label order), ``label_to_category_id`` (list: label -> COCO id),
    ``coco`` (pycocotools COCO of the kept images and annotations), ``image_ids`` (dataset order),
    ``skipped`` (Counter of skip reasons).
    """

    def __init__(
        self,
        image_root: str | Path,
        ann_file: str | Path,
        transforms: Callable[[Tensor, dict], tuple[Tensor, dict]] | None = None,
        *,
        train: bool = False,
        skip_empty: bool = True,
    ) -> None:
        self.image_root = Path(image_root)
        self.ann_file = Path(ann_file)
        if not self.ann_file.is_file():
            raise FileNotFoundError(f"COCO annotation file not found: {self.ann_file}")
        if not self.image_root.is_dir():
            raise FileNotFoundError(f"COCO image folder not found: {self.image_root}")
        self.transforms = transforms
        self.train = train
        self.skipped: Counter[str] = Counter()
        self._warned: set[str] = set()

        data = _read_json(self.ann_file)
        where = str(self.ann_file)
        categories = sorted(
            _checked(data["categories"], CATEGORY_FIELDS, "category", where), key=lambda c: c["id"]
        )
        _check_unique(categories, "category", where, "id")
        _check_unique(categories, "category", where, "name")
        self.categories: list[str] = [c["name"] for c in categories]
        self.label_to_category_id: list[int] = [c["id"] for c in categories]
        self._label_of = {cid: label for label, cid in enumerate(self.label_to_category_id)}

        images, missing = {}, set()
        for image in _checked(data["images"], IMAGE_FIELDS, "image", where):
            if image["id"] in images or image["id"] in missing:
                raise ValueError(f"{where}: duplicate image id {image['id']!r} in 'images'")
            if (self.image_root / image["file_name"]).is_file():
                images[image["id"]] = image
            else:
                missing.add(image["id"])
                self.skipped[MISSING_FILE] += 1

        annotations = []
        checked_annotations = _checked(data["annotations"], ANNOTATION_FIELDS, "annotation", where)
        _check_unique(checked_annotations, "annotation", where, "id")
        for ann in checked_annotations:
            if ann["category_id"] not in self._label_of:
                raise ValueError(
                    f"{where}: annotation id {ann['id']}: field 'category_id' "
                    f"= {ann['category_id']!r} is not a category id"
                )
            if ann["image_id"] not in images:
                if ann["image_id"] not in missing:
                    self.skipped[UNKNOWN_IMAGE] += 1
                continue
            image = images[ann["image_id"]]
            cleaned, reason = _clean_annotation(ann, image["height"], image["width"], where)
            if reason:
                self.skipped[reason] += 1
            if cleaned is not None:
                annotations.append(cleaned)

        self.coco = _make_coco({**data, "images": list(images.values()), "annotations": annotations})
        self.image_ids: list[int] = list(images)
        if train and skip_empty:
            usable = {ann["image_id"] for ann in annotations if not ann.get("iscrowd", 0)}
            self.skipped[NO_INSTANCE] += len(self.image_ids) - len(usable)
            self.image_ids = [image_id for image_id in self.image_ids if image_id in usable]
        self.skipped = +self.skipped  # drop zero counts
        if self.skipped:
            logger.warning(self.report())

    def __len__(self) -> int:
        return len(self.image_ids)

    def __getitem__(self, index: int) -> tuple[Tensor, dict]:
        for attempt in range(len(self.image_ids)):
            image_id = self.image_ids[(index + attempt) % len(self.image_ids)]
            info = self.coco.imgs[image_id]
            image = self._load_image(info)
            if image is not None:
                return self._finish(image, self._target(info))
        raise RuntimeError(f"{self.ann_file}: no readable image under {self.image_root}")

    def report(self) -> str:
        """One-line summary: images, instances and the counted skips."""
        num_instances = sum(
            not ann.get("iscrowd", 0) for image_id in self.image_ids for ann in self.coco.imgToAnns[image_id]
        )
        line = f"{self.ann_file.name}: {len(self.image_ids)} images, {num_instances} instances"
        if self.skipped:
            skips = sorted(self.skipped.items())
            line += "; skipped: " + ", ".join(f"{count} {reason}" for reason, count in skips)
        return line

    def _finish(self, image: Tensor, target: dict) -> tuple[Tensor, dict]:
        return self.transforms(image, target) if self.transforms is not None else (image, target)

    def _count_once(self, reason: str, detail: str) -> None:
        self.skipped[reason] += 1
        if reason not in self._warned:
            self._warned.add(reason)
            logger.warning("%s: %s (%s); further ones are only counted", self.ann_file.name, reason, detail)

    def _load_image(self, info: dict) -> Tensor | None:
        """``(3, H, W)`` float in 0..1 (EXIF orientation applied). An unreadable image or one of the
        wrong size is counted and gives None in training; in evaluation it raises ImageReadError."""
        path = self.image_root / info["file_name"]
        try:
            image = read_image(path)
            if tuple(image.shape[1:]) != (info["height"], info["width"]):
                size = f"{image.shape[2]}x{image.shape[1]} px, json says {info['width']}x{info['height']}"
                raise ImageReadError(path, f"{SIZE_MISMATCH}: {size}")
        except (ImageReadError, FileNotFoundError) as error:
            reason = SIZE_MISMATCH if SIZE_MISMATCH in str(error) else UNREADABLE
            if not self.train:
                self.skipped[reason] += 1
                raise ImageReadError(path, getattr(error, "reason", str(error))) from error
            self._count_once(reason, str(error))
            return None
        return image

    def _empty_target(self, image_id: int, info: dict) -> dict:
        return {
            "boxes": torch.zeros(0, 4),
            "labels": torch.zeros(0, dtype=torch.int64),
            "masks": torch.zeros(0, info["height"], info["width"], dtype=torch.bool),
            "image_id": image_id,
        }

    def _target(self, info: dict) -> dict:
        height, width = info["height"], info["width"]
        anns = [ann for ann in self.coco.imgToAnns[info["id"]] if not ann.get("iscrowd", 0)]
        if not anns:
            return self._empty_target(info["id"], info)
        masks = decode_segmentations([ann["segmentation"] for ann in anns], height, width)
        boxes = np.array([ann["bbox"] for ann in anns], dtype=np.float32).reshape(-1, 4)
        boxes[:, 2:] += boxes[:, :2]
        boxes[:, 0::2] = boxes[:, 0::2].clip(0, width)
        boxes[:, 1::2] = boxes[:, 1::2].clip(0, height)
        keep = masks.any(axis=(1, 2))
        for _ in range(int((~keep).sum())):
            self._count_once(EMPTY_MASK, f"image id {info['id']}")
        labels = [self._label_of[ann["category_id"]] for ann in anns]
        return {
            "boxes": torch.from_numpy(boxes[keep]),
            "labels": torch.tensor(labels, dtype=torch.int64)[torch.from_numpy(keep)],
            "masks": torch.from_numpy(masks[keep]),
            "image_id": info["id"],
        }


def decode_segmentations(segmentations: list, height: int, width: int) -> np.ndarray:
    """COCO segmentations (polygon lists, uncompressed or compressed RLE) -> ``(N, H, W)`` bool."""
    if not segmentations:
        return np.zeros((0, height, width), dtype=bool)
    rles = [_to_rle(seg, height, width) for seg in segmentations]
    return np.ascontiguousarray(mask_utils.decode(rles).transpose(2, 0, 1)).astype(bool)


def _to_rle(segmentation: list | dict, height: int, width: int) -> dict:
    if isinstance(segmentation, list):  # polygon parts
        return mask_utils.merge(mask_utils.frPyObjects(segmentation, height, width))
    if isinstance(segmentation["counts"], list):  # uncompressed RLE
        return mask_utils.frPyObjects(segmentation, height, width)
    return segmentation


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: malformed JSON ({error})") from error
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object with 'images', 'annotations', 'categories'")
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            raise ValueError(f"{path}: missing or non-list top-level field {key!r}")
    return data


def _check_unique(records: list[dict], kind: str, where: str, field: str) -> None:
    """Raise UsageError naming every value of ``field`` that two ``kind`` records share."""
    counts = Counter(record[field] for record in records)
    repeated = [value for value, count in counts.items() if count > 1]
    if repeated:
        shown = ", ".join(repr(value) for value in repeated[:10])
        more = f" and {len(repeated) - 10} more" if len(repeated) > 10 else ""
        raise UsageError(f"{where}: duplicate {kind} {field}(s) {shown}{more}; each must be unique")


def _checked(records: list, fields: tuple[str, ...], kind: str, where: str) -> list[dict]:
    """The records, after checking that each is an object with the required fields and integer ids."""
    for position, record in enumerate(records):
        name = (
            f"{kind} id {record['id']!r}"
            if isinstance(record, dict) and "id" in record
            else f"{kind} #{position}"
        )
        if not isinstance(record, dict):
            raise ValueError(f"{where}: {name} is not a JSON object")
        for field in fields:
            if field not in record:
                raise ValueError(f"{where}: {name} has no required field {field!r}")
        for field in ("id", "image_id", "category_id"):
            if field in fields and (not isinstance(record[field], int) or isinstance(record[field], bool)):
                raise UsageError(
                    f"{where}: {name}: field {field!r} must be an integer, got {record[field]!r}"
                )
        if kind == "image":
            for field in ("height", "width"):
                if not isinstance(record[field], int) or record[field] <= 0:
                    raise ValueError(
                        f"{where}: {name}: field {field!r} must be a positive integer, got {record[field]!r}"
                    )
    return records


def _clean_annotation(ann: dict, height: int, width: int, where: str) -> tuple[dict | None, str | None]:
    """(annotation or None, skip reason or None). Drops polygon parts with < 3 points; fills in a
    missing ``bbox``/``area`` from the segmentation; raises on malformed fields."""
    name = f"{where}: annotation id {ann['id']!r}"
    segmentation, reason = ann["segmentation"], None
    if isinstance(segmentation, list):
        parts = []
        for part in segmentation:
            if not isinstance(part, list) or not all(isinstance(v, Real) for v in part):
                raise ValueError(f"{name}: field 'segmentation' must hold lists of numbers")
            parts.append(part)
        if not parts:
            return None, EMPTY_SEGMENTATION
        good = [part for part in parts if len(part) >= 6 and len(part) % 2 == 0]
        if len(good) < len(parts):
            reason = SHORT_POLYGON
        if not good:
            return None, reason
        segmentation = good
    elif isinstance(segmentation, dict):
        if "counts" not in segmentation or "size" not in segmentation:
            raise ValueError(f"{name}: field 'segmentation' (RLE) needs 'counts' and 'size'")
        if list(segmentation["size"]) != [height, width]:
            return None, RLE_SIZE
    else:
        raise ValueError(f"{name}: field 'segmentation' must be a polygon list or an RLE object")

    cleaned = {**ann, "segmentation": segmentation}
    if "bbox" not in ann or "area" not in ann:
        rle = _to_rle(segmentation, height, width)
        cleaned.setdefault("bbox", [float(v) for v in mask_utils.toBbox(rle)])
        cleaned.setdefault("area", float(mask_utils.area(rle)))
    bbox = cleaned["bbox"]
    if not (isinstance(bbox, list) and len(bbox) == 4 and all(isinstance(v, Real) for v in bbox)):
        raise ValueError(f"{name}: field 'bbox' must be [x, y, w, h], got {bbox!r}")
    if not isinstance(cleaned["area"], Real):
        raise ValueError(f"{name}: field 'area' must be a number, got {cleaned['area']!r}")
    if bbox[2] <= 0 or bbox[3] <= 0 or cleaned["area"] <= 0:
        return None, DEGENERATE_BOX
    if bbox[0] >= width or bbox[1] >= height or bbox[0] + bbox[2] <= 0 or bbox[1] + bbox[3] <= 0:
        return None, BOX_OUTSIDE
    return cleaned, reason


def _make_coco(dataset: dict) -> COCO:
    coco = COCO()
    coco.dataset = dataset
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress
        coco.createIndex()
    return coco
