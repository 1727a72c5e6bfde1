"""CocoInstances on a hand-made COCO json covering the odd cases, bad input, and DataLoader workers."""

import json
import logging
import pickle

import numpy as np
import pytest
import torch
from PIL import Image
from pycocotools import mask as mask_utils

from blendmask.data import CocoInstances, build_transforms, collate, make_synthetic_coco
from blendmask.errors import ImageReadError

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:pycocotools.*")

H, W = 30, 40


def _rect(x0, y0, x1, y1):
    return [x0, y0, x1, y0, x1, y1, x0, y1]


def _raster(polygons, height=H, width=W):
    return mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects(polygons, height, width))).astype(bool)


def _uncompressed_rle(mask):
    flat = mask.flatten(order="F").astype(np.int64)
    changes = np.flatnonzero(np.diff(np.concatenate([[0], flat, [1 - flat[-1]]])))
    return {"size": list(mask.shape), "counts": np.diff(np.concatenate([[0], changes])).tolist()}


def _compressed_rle(mask):
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": rle["size"], "counts": rle["counts"].decode("ascii")}


UNCOMPRESSED = np.zeros((H, W), dtype=bool)
UNCOMPRESSED[2:9, 20:35] = True
COMPRESSED = np.zeros((H, W), dtype=bool)
COMPRESSED[15:28, 1:12] = True
MULTI = [_rect(2, 2, 10, 10), _rect(25, 15, 38, 28)]


def _annotation(ann_id, image_id, category_id, segmentation, bbox, **extra):
    return {
        "id": ann_id,
        "image_id": image_id,
        "category_id": category_id,
        "segmentation": segmentation,
        "bbox": bbox,
        "area": 10.0,
        "iscrowd": 0,
        **extra,
    }


@pytest.fixture()
def coco_dir(tmp_path):
    """Images: id 0 RGB (multi-polygon, both RLEs, crowd, degenerate polygon, zero box), id 1 grayscale in
    a sub-folder, id 2 missing file, id 3 RGBA without annotations; plus an annotation for image id 99."""
    rng = np.random.default_rng(0)
    (tmp_path / "images" / "sub").mkdir(parents=True)
    Image.fromarray(rng.integers(0, 255, (H, W, 3), dtype=np.uint8)).save(tmp_path / "images" / "a.png")
    Image.fromarray(rng.integers(0, 255, (H, W), dtype=np.uint8), "L").save(tmp_path / "images/sub/b.png")
    Image.fromarray(rng.integers(0, 255, (H, W, 4), dtype=np.uint8), "RGBA").save(tmp_path / "images/d.png")
    data = {
        "info": {"description": "hand-made"},
        "licenses": [],
        "categories": [{"id": 5, "name": "dog"}, {"id": 0, "name": "cat"}, {"id": 2, "name": "bird"}],
        "images": [
            {"id": 0, "file_name": "a.png", "height": H, "width": W},
            {"id": 1, "file_name": "sub/b.png", "height": H, "width": W},
            {"id": 2, "file_name": "missing.png", "height": H, "width": W},
            {"id": 3, "file_name": "d.png", "height": H, "width": W},
        ],
        "annotations": [
            _annotation(0, 0, 0, MULTI, [2, 2, 36, 26]),
            _annotation(1, 0, 5, _uncompressed_rle(UNCOMPRESSED), [20, 2, 15, 7]),
            _annotation(2, 0, 2, _compressed_rle(COMPRESSED), [1, 15, 11, 13]),
            _annotation(3, 0, 5, _compressed_rle(UNCOMPRESSED | COMPRESSED), [1, 2, 34, 26], iscrowd=1),
            _annotation(4, 0, 0, [[5, 5, 9, 9]], [5, 5, 4, 4]),  # degenerate polygon: 2 points
            _annotation(5, 0, 0, [_rect(3, 3, 8, 8)], [3, 3, 0, 5]),  # zero-width box
            _annotation(6, 1, 2, [_rect(4, 4, 20, 12)], [4, 4, 16, 8]),
            _annotation(7, 2, 0, [_rect(4, 4, 20, 12)], [4, 4, 16, 8]),  # on the missing image file
            _annotation(8, 99, 0, [_rect(4, 4, 20, 12)], [4, 4, 16, 8]),  # unknown image id
        ],
    }
    (tmp_path / "ann.json").write_text(json.dumps(data))
    return tmp_path


def test_hand_made_json_eval_mode(coco_dir, caplog):
    with caplog.at_level(logging.WARNING, logger="blendmask.data.coco"):
        dataset = CocoInstances(coco_dir / "images", coco_dir / "ann.json")
    assert dataset.categories == ["cat", "bird", "dog"]
    assert dataset.label_to_category_id == [0, 2, 5]
    assert dataset.image_ids == [0, 1, 3] and len(dataset) == 3
    assert dict(dataset.skipped) == {
        "missing image file": 1,
        "annotation for unknown image id": 1,
        "polygon with < 3 points": 1,
        "zero-area or degenerate box": 1,
    }
    report = dataset.report()
    assert "\n" not in report and "3 images, 4 instances" in report
    assert "1 missing image file" in report and "1 polygon with < 3 points" in report
    assert len(caplog.records) == 1 and "1 annotation for unknown image id" in caplog.records[0].getMessage()

    image, target = dataset[0]
    assert image.shape == (3, H, W) and image.dtype == torch.float32 and 0 <= image.min() <= image.max() <= 1
    pixels = np.asarray(Image.open(coco_dir / "images/a.png"))
    assert np.allclose(image.permute(1, 2, 0).numpy() * 255, pixels, atol=1e-3)
    assert target["image_id"] == 0
    assert target["labels"].tolist() == [0, 2, 1]  # cat, dog, bird; the crowd one is left out
    masks = target["masks"].numpy()
    assert masks.dtype == bool and masks.shape == (3, H, W)
    assert np.array_equal(masks[0], _raster(MULTI)) and _raster(MULTI[:1]).sum() < masks[0].sum()
    assert np.array_equal(masks[1], UNCOMPRESSED)
    assert np.array_equal(masks[2], COMPRESSED)
    assert torch.equal(target["boxes"][1], torch.tensor([20.0, 2.0, 35.0, 9.0]))
    assert [a["id"] for a in dataset.coco.loadAnns(dataset.coco.getAnnIds())] == [0, 1, 2, 3, 6]

    gray, target = dataset[1]  # grayscale image in a sub-folder
    assert gray.shape == (3, H, W) and torch.equal(gray[0], gray[1]) and torch.equal(gray[1], gray[2])
    assert target["masks"].shape == (1, H, W) and target["labels"].tolist() == [1]
    rgba, target = dataset[2]  # RGBA, no annotation: kept in evaluation with an empty target
    assert rgba.shape == (3, H, W) and target["image_id"] == 3
    assert target["boxes"].shape == (0, 4) and target["masks"].shape == (0, H, W)


def test_training_mode_skips_images_without_instances(coco_dir):
    dataset = CocoInstances(coco_dir / "images", coco_dir / "ann.json", train=True)
    assert dataset.image_ids == [0, 1]
    assert dataset.skipped["training image without usable instance"] == 1
    kept = CocoInstances(coco_dir / "images", coco_dir / "ann.json", train=True, skip_empty=False)
    assert kept.image_ids == [0, 1, 3]


def test_unreadable_image_is_counted_not_fatal(coco_dir):
    (coco_dir / "images" / "a.png").write_bytes(b"not a png")
    evaluation = CocoInstances(coco_dir / "images", coco_dir / "ann.json")
    with pytest.raises(ImageReadError, match="a.png"):  # the evaluator leaves it out and says so
        evaluation[0]
    assert evaluation.skipped["unreadable image file"] == 1
    training = CocoInstances(coco_dir / "images", coco_dir / "ann.json", train=True)
    image, target = training[0]  # training moves on to the next readable image
    assert target["image_id"] == 1
    assert "1 unreadable image file" in training.report()


def test_bad_input_errors_name_path_field_and_id(coco_dir):
    images, ann_file = coco_dir / "images", coco_dir / "ann.json"
    with pytest.raises(FileNotFoundError, match="nope.json"):
        CocoInstances(images, coco_dir / "nope.json")
    with pytest.raises(FileNotFoundError, match="no_images"):
        CocoInstances(coco_dir / "no_images", ann_file)
    broken = coco_dir / "broken.json"
    broken.write_text('{"images": [')
    with pytest.raises(ValueError, match="broken.json: malformed JSON"):
        CocoInstances(images, broken)
    data = json.loads(ann_file.read_text())
    del data["annotations"][6]["category_id"]
    broken.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="annotation id 6 has no required field 'category_id'"):
        CocoInstances(images, broken)
    data = json.loads(ann_file.read_text())
    del data["images"][3]["file_name"]
    broken.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="image id 3 has no required field 'file_name'"):
        CocoInstances(images, broken)
    data = json.loads(ann_file.read_text())
    data["annotations"][6]["category_id"] = 42
    broken.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="annotation id 6: field 'category_id' = 42"):
        CocoInstances(images, broken)
    del data["categories"]
    broken.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="'categories'"):
        CocoInstances(images, broken)


def test_picklable_and_dataloader_workers(tmp_path):
    paths = make_synthetic_coco(tmp_path, num_train=8, num_val=0, seed=5)
    transforms = build_transforms(train=True, min_sizes=(96, 112), max_size=200)
    dataset = CocoInstances(paths.train_images, paths.train_ann, transforms, train=True)
    clone = pickle.loads(pickle.dumps(dataset))
    assert clone.image_ids == dataset.image_ids and clone.categories == dataset.categories
    loader = torch.utils.data.DataLoader(dataset, batch_size=4, num_workers=2, collate_fn=collate)
    batches = list(loader)
    assert len(batches) == 2
    ids = []
    for images, targets in batches:
        assert len(images) == len(targets) == 4
        for image, target in zip(images, targets, strict=True):
            assert min(image.shape[-2:]) in (96, 112)
            assert target["masks"].shape[-2:] == image.shape[-2:] and len(target["boxes"]) >= 1
            ids.append(target["image_id"])
    assert ids == dataset.image_ids
