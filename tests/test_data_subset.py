"""make_subset: categories by name or id, max_images with seed determinism, valid COCO output."""

import contextlib
import io
import json

import pytest
from pycocotools.coco import COCO

from blendmask.data import CocoInstances, make_subset, make_synthetic_coco

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:pycocotools.*")


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    root = tmp_path_factory.mktemp("syn")
    paths = make_synthetic_coco(root, num_train=40, num_val=0, num_classes=4, seed=2)
    data = json.loads(paths.train_ann.read_text())
    data["info"]["note"] = "kept"
    data["licenses"] = [{"id": 1, "name": "CC0"}]
    paths.train_ann.write_text(json.dumps(data))
    return paths


def _load(path):
    with contextlib.redirect_stdout(io.StringIO()):
        return COCO(str(path))


def test_by_name_and_by_id_agree_and_filter(source, tmp_path):
    by_name = tmp_path / "name.json"
    by_id = tmp_path / "id.json"
    summary = make_subset(source.train_ann, by_name, categories=["triangle", "star"])
    make_subset(source.train_ann, by_id, categories=[3, 4])
    assert by_name.read_text() == by_id.read_text()
    coco, original = _load(by_name), json.loads(source.train_ann.read_text())
    assert summary == {"images": len(coco.imgs), "annotations": len(coco.anns), "categories": 2}
    assert sorted(c["name"] for c in coco.loadCats(coco.getCatIds())) == ["star", "triangle"]
    assert {a["category_id"] for a in coco.anns.values()} == {3, 4}
    wanted = {a["image_id"] for a in original["annotations"] if a["category_id"] in (3, 4)}
    assert set(coco.imgs) == wanted and 0 < len(wanted) < 40
    assert len(coco.anns) == sum(a["category_id"] in (3, 4) for a in original["annotations"])
    assert coco.dataset["info"]["note"] == "kept" and coco.dataset["licenses"] == [{"id": 1, "name": "CC0"}]
    dataset = CocoInstances(source.train_images, by_name)  # usable for training as is
    assert dataset.categories == ["triangle", "star"] and len(dataset) == len(wanted)


def test_max_images_min_instances_and_seed(source, tmp_path):
    make_subset(source.train_ann, tmp_path / "a.json", max_images=10, min_instances=2, seed=1)
    make_subset(source.train_ann, tmp_path / "b.json", max_images=10, min_instances=2, seed=1)
    make_subset(source.train_ann, tmp_path / "c.json", max_images=10, min_instances=2, seed=2)
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    first, other = _load(tmp_path / "a.json"), _load(tmp_path / "c.json")
    assert len(first.imgs) == len(other.imgs) == 10 and set(first.imgs) != set(other.imgs)
    assert list(first.imgs) == sorted(first.imgs)  # original order kept
    assert all(len(first.getAnnIds(imgIds=i)) >= 2 for i in first.imgs)
    assert len(first.getCatIds()) == 4


def test_unknown_category_and_missing_file(source, tmp_path):
    with pytest.raises(ValueError, match="unknown category 'zebra'"):
        make_subset(source.train_ann, tmp_path / "x.json", categories=["zebra"])
    with pytest.raises(ValueError, match="unknown category 9"):
        make_subset(source.train_ann, tmp_path / "x.json", categories=[9])
    with pytest.raises(FileNotFoundError, match="missing.json"):
        make_subset(tmp_path / "missing.json", tmp_path / "x.json")
