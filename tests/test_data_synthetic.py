"""make_synthetic_coco: real COCO format, round trip through CocoInstances, determinism."""

import json

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from blendmask.data import CocoInstances, make_synthetic_coco
from blendmask.data.synthetic import SHAPES

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:pycocotools.*")


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    return make_synthetic_coco(tmp_path_factory.mktemp("syn"), num_train=12, num_val=4, seed=3)


def test_layout_and_coco_fields(synthetic):
    assert synthetic.train_ann == synthetic.root / "annotations" / "instances_train.json"
    assert synthetic.val_ann == synthetic.root / "annotations" / "instances_val.json"
    for images, ann_file, count in (
        (synthetic.train_images, synthetic.train_ann, 12),
        (synthetic.val_images, synthetic.val_ann, 4),
    ):
        data = json.loads(ann_file.read_text())
        assert [c["name"] for c in data["categories"]] == ["ellipse", "rectangle", "triangle"]
        assert len(data["images"]) == count == len(list(images.glob("*.png")))
        per_image = [sum(a["image_id"] == im["id"] for a in data["annotations"]) for im in data["images"]]
        assert min(per_image) >= 1 and max(per_image) <= 5
        for ann in data["annotations"]:
            assert ann["iscrowd"] == 0 and ann["area"] >= 48
            assert {"id", "image_id", "category_id", "segmentation", "area", "bbox"} <= set(ann)
    kinds = {type(a["segmentation"]) for a in json.loads(synthetic.train_ann.read_text())["annotations"]}
    assert kinds == {list, dict}  # unoccluded shapes as polygons, occluded ones as RLE


def test_round_trip_masks_equal_pycocotools_rasterisation(synthetic):
    dataset = CocoInstances(synthetic.train_images, synthetic.train_ann)
    assert len(dataset) == 12 and not dataset.skipped
    checked_polygons = 0
    for index in range(len(dataset)):
        image, target = dataset[index]
        assert image.shape == (3, 128, 128)
        anns = dataset.coco.imgToAnns[target["image_id"]]
        assert len(anns) == len(target["masks"])
        union = np.zeros((128, 128), dtype=int)
        instances = zip(anns, target["masks"], target["boxes"], target["labels"], strict=True)
        for ann, mask, box, label in instances:
            segmentation = ann["segmentation"]
            if isinstance(segmentation, list):
                rle = mask_utils.merge(mask_utils.frPyObjects(segmentation, 128, 128))
                checked_polygons += 1
            else:
                rle = segmentation
            expected = mask_utils.decode(rle).astype(bool)
            assert np.array_equal(mask.numpy(), expected)
            assert expected.sum() == ann["area"]
            ys, xs = np.nonzero(expected)
            extents = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
            assert np.abs(box.numpy() - extents).max() <= 1
            assert dataset.label_to_category_id[int(label)] == ann["category_id"]
            union += expected
        assert union.max() == 1  # visible parts: an occluded shape loses what covers it
    assert checked_polygons > 0


def test_same_seed_is_byte_identical_other_seed_differs(tmp_path):
    first = make_synthetic_coco(tmp_path / "a", num_train=5, num_val=2, seed=7)
    second = make_synthetic_coco(tmp_path / "b", num_train=5, num_val=2, seed=7)
    other = make_synthetic_coco(tmp_path / "c", num_train=5, num_val=2, seed=8)
    files = sorted(p.relative_to(first.root) for p in first.root.rglob("*") if p.is_file())
    assert len(files) == 5 + 2 + 2
    assert files == sorted(p.relative_to(second.root) for p in second.root.rglob("*") if p.is_file())
    for name in files:
        assert (first.root / name).read_bytes() == (second.root / name).read_bytes(), name
    pngs = [name for name in files if name.suffix == ".png"]
    assert all((first.root / n).read_bytes() != (other.root / n).read_bytes() for n in pngs)
    assert first.train_ann.read_bytes() != other.train_ann.read_bytes()


def test_more_classes_and_bad_arguments(tmp_path):
    paths = make_synthetic_coco(tmp_path, num_train=20, num_val=0, num_classes=6, image_size=96, seed=1)
    data = json.loads(paths.train_ann.read_text())
    assert [c["name"] for c in data["categories"]] == list(SHAPES)
    assert {a["category_id"] for a in data["annotations"]} == set(range(1, 7))
    assert {(im["width"], im["height"]) for im in data["images"]} == {(96, 96)}
    assert json.loads(paths.val_ann.read_text())["images"] == []
    with pytest.raises(ValueError, match="num_classes"):
        make_synthetic_coco(tmp_path, num_classes=7)
    with pytest.raises(ValueError, match="image_size"):
        make_synthetic_coco(tmp_path, image_size=16)
