"""choose_data: the notebooks' synthetic-or-COCO choice, cut to a subset of both splits."""

from __future__ import annotations

import json

import pytest

from blendmask.data import make_synthetic_coco
from blendmask.lab.data_choice import COCO_2017_LAYOUT, choose_data, coco_paths


def test_synthetic_data_is_generated_and_cut_to_the_budget(tmp_path):
    data = choose_data(tmp_path, num_train=6, num_val=3, seed=0)
    assert data.description == "synthetic shapes"
    assert data.split("train") == (data.train_images, tmp_path / "subset" / "train.json")
    assert data.split("val") == (data.val_images, tmp_path / "subset" / "val.json")
    for name, count in (("train", 6), ("val", 3)):
        written = json.loads(data.split(name)[1].read_text())
        assert len(written["images"]) == count == data.summaries[name]["images"]
    assert str(data.val_ann) in data.report() and data.report().startswith("synthetic shapes")
    with pytest.raises(ValueError, match="split"):
        data.split("test")


def test_a_coco_folder_is_read_in_the_2017_layout_and_cut(tmp_path):
    source = make_synthetic_coco(tmp_path / "source", num_train=8, num_val=4, seed=1)
    root = tmp_path / "coco"
    for key, relative in COCO_2017_LAYOUT.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).symlink_to(getattr(source, key))
    data = choose_data(tmp_path / "out", coco=root, num_train=5, num_val=2, categories=["ellipse"])
    assert data.train_images == root / "train2017" and data.val_images == root / "val2017"
    assert data.description == f"COCO subset of {root} (ellipse)"
    train = json.loads(data.train_ann.read_text())
    assert [c["name"] for c in train["categories"]] == ["ellipse"]
    assert 0 < len(train["images"]) <= 5 and data.summaries["val"]["images"] <= 2
    assert not (tmp_path / "out" / "data").exists(), "nothing is generated for COCO"


def test_coco_paths_from_a_mapping_name_what_is_missing(tmp_path):
    paths = {key: tmp_path / key for key in COCO_2017_LAYOUT}
    assert coco_paths(paths) == paths
    assert coco_paths(tmp_path)["val_ann"] == tmp_path / "annotations" / "instances_val2017.json"
    with pytest.raises(ValueError, match="val_ann"):
        coco_paths({key: value for key, value in paths.items() if key != "val_ann"})
