"""COCO json checks: repeated or non-integer ids are errors naming them; dropped instances are counted."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from blendmask.data import CocoInstances
from blendmask.errors import UsageError

SIZE = 32


def _square(x, y, side=8):
    return [[x, y, x + side, y, x + side, y + side, x, y + side]]


@pytest.fixture()
def coco(tmp_path):
    """A two-image json (one instance each) and a writer of edited copies of it."""
    for name in ("a.png", "b.png"):
        Image.fromarray(np.full((SIZE, SIZE, 3), 90, dtype=np.uint8)).save(tmp_path / name)
    data = {
        "images": [
            {"id": 1, "file_name": "a.png", "width": SIZE, "height": SIZE},
            {"id": 2, "file_name": "b.png", "width": SIZE, "height": SIZE},
        ],
        "annotations": [
            {"id": 10, "image_id": 1, "category_id": 1, "segmentation": _square(4, 4), "iscrowd": 0},
            {"id": 11, "image_id": 2, "category_id": 2, "segmentation": _square(8, 8), "iscrowd": 0},
        ],
        "categories": [{"id": 1, "name": "ellipse"}, {"id": 2, "name": "rectangle"}],
    }

    def write(edit=None):
        edited = json.loads(json.dumps(data))
        if edit:
            edit(edited)
        (tmp_path / "ann.json").write_text(json.dumps(edited))
        return CocoInstances(tmp_path, tmp_path / "ann.json")

    return write


def test_valid_json_loads(coco):
    assert coco().categories == ["ellipse", "rectangle"]


def test_duplicate_category_id_is_an_error(coco):
    with pytest.raises(UsageError, match=r"ann.json: duplicate category id\(s\) 2"):
        coco(lambda d: d["categories"].append({"id": 2, "name": "dupe"}))


def test_duplicate_category_name_is_an_error(coco):
    with pytest.raises(UsageError, match=r"duplicate category name\(s\) 'ellipse'"):
        coco(lambda d: d["categories"].append({"id": 3, "name": "ellipse"}))


def test_duplicate_annotation_id_is_an_error(coco):
    def repeat(d):
        d["annotations"][1]["id"] = 10

    with pytest.raises(UsageError, match=r"duplicate annotation id\(s\) 10"):
        coco(repeat)


@pytest.mark.parametrize(
    ("section", "field"),
    [("images", "id"), ("annotations", "id"), ("annotations", "image_id"), ("categories", "id")],
)
def test_non_integer_ids_are_errors(coco, section, field):
    def stringify(d):
        d[section][0][field] = "x1"

    with pytest.raises(UsageError, match=rf"field '{field}' must be an integer, got 'x1'"):
        coco(stringify)


def test_every_dropped_instance_is_counted_by_reason(coco):
    def add_bad(d):
        d["annotations"] += [
            {"id": 12, "image_id": 1, "category_id": 1, "segmentation": [], "iscrowd": 0},
            {"id": 13, "image_id": 2, "category_id": 1, "segmentation": _square(4, 4),
             "bbox": [SIZE + 5, 2, 6, 6], "area": 36.0, "iscrowd": 0},
        ]  # fmt: skip

    dataset = coco(add_bad)
    assert dataset.skipped["empty segmentation"] == 1
    assert dataset.skipped["box outside the image"] == 1
    assert "1 empty segmentation" in dataset.report() and "1 box outside the image" in dataset.report()
    assert len(dataset.coco.anns) == 2
