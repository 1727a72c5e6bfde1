"""Many-item commands skip a bad item, say which and why, go on, and never overwrite their own outputs."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image
from reliability_helpers import cli, one_line_error

from blendmask.cli import main
from blendmask.engine import load_checkpoint, save_checkpoint


@pytest.fixture()
def images(tiny_run, tmp_path):
    """ok.png and ok.jpg (the same picture), and a zero-byte bad.png between them."""
    folder = tmp_path / "imgs"
    folder.mkdir()
    source = sorted(tiny_run.val_images.iterdir())[0]
    with Image.open(source) as handle:
        handle.convert("RGB").save(folder / "ok.jpg")
    shutil.copy(source, folder / "ok.png")
    (folder / "bad.png").write_bytes(b"")
    return folder


def test_predict_names_outputs_uniquely(tiny_run, images, tmp_path, capsys):
    out = tmp_path / "p"
    paths = [str(images / name) for name in ("ok.png", "ok.jpg", "ok.png")]
    assert main(["predict", "--checkpoint", str(tiny_run.checkpoint), *paths, "--out", str(out)]) == 0
    assert sorted(path.name for path in out.iterdir()) == ["ok_jpg.png", "ok_png.png", "ok_png_2.png"]
    assert "3 of 3 images predicted" in capsys.readouterr().out


def test_predict_skips_an_unreadable_image_and_goes_on(tiny_run, images, tmp_path, capsys):
    out = tmp_path / "p"
    paths = [str(images / name) for name in ("ok.png", "bad.png", "ok.jpg")]
    assert main(["predict", "--checkpoint", str(tiny_run.checkpoint), *paths, "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert f"skipped {images / 'bad.png'}: {images / 'bad.png'}: cannot read the image (empty file)" in err
    assert "2 of 3 images predicted; skipped 1" in err
    assert sorted(path.name for path in out.iterdir()) == ["ok_jpg.png", "ok_png.png"]
    strict = cli(
        "predict", "--checkpoint", str(tiny_run.checkpoint), *paths, "--out", str(tmp_path / "s"), "--strict"
    )
    assert f"{images / 'bad.png'}: cannot read the image" in one_line_error(strict)


def test_predict_a_folder_predicts_every_image_in_it(tiny_run, images, tmp_path, capsys):
    out = tmp_path / "p"
    assert main(["predict", "--checkpoint", str(tiny_run.checkpoint), str(images), "--out", str(out)]) == 0
    assert sorted(path.name for path in out.iterdir()) == ["ok_jpg.png", "ok_png.png"]
    assert "2 of 3 images predicted; skipped 1" in capsys.readouterr().err


def test_render_says_when_nothing_is_detected(tiny_run, images, tmp_path):
    state = load_checkpoint(tiny_run.checkpoint)
    bias = next(name for name in state["model"] if name.endswith("cls_logits.bias"))
    state["model"][bias].fill_(-50.0)  # no class score passes the candidate threshold
    blind = save_checkpoint(state, tmp_path / "blind.pt")
    done = cli(
        "render", "--checkpoint", str(blind), "--image", str(images / "ok.png"), "--out", str(tmp_path / "r")
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "no instance detected; writing Figure 3 (bases) only" in done.stderr
    assert [path.name for path in (tmp_path / "r").iterdir()] == ["ok_figure3_bases.png"]


def test_render_of_an_unreadable_image_is_one_line(tiny_run, images, tmp_path):
    done = cli(
        "render",
        "--checkpoint",
        str(tiny_run.checkpoint),
        "--image",
        str(images / "bad.png"),
        "--out",
        str(tmp_path),
    )
    assert f"{images / 'bad.png'}: cannot read the image" in one_line_error(done)


def _eval(tiny_run, root, ann, out):
    args = ["eval", "--checkpoint", str(tiny_run.checkpoint), "--data-root", str(root), "--ann", str(ann)]
    return main([*args, "--out", str(out)])


def test_eval_leaves_an_unreadable_image_out_with_its_ground_truth(tiny_run, tmp_path, capsys):
    root = tmp_path / "val"
    shutil.copytree(tiny_run.val_images, root)
    data = json.loads(tiny_run.val_ann.read_text())
    broken = data["images"][0]
    (root / broken["file_name"]).write_bytes(b"not a png")
    assert _eval(tiny_run, root, tiny_run.val_ann, tmp_path / "with_bad" / "metrics.json") == 0
    err = capsys.readouterr().err
    assert f"skipped image id {broken['id']} ({root / broken['file_name']})" in err
    assert "evaluated 2 of 3 images; left out 1 unreadable image(s) with their ground truth" in err
    with_bad = json.loads((tmp_path / "with_bad" / "metrics.json").read_text())

    # the same as evaluating a json without that image
    data["images"] = data["images"][1:]
    data["annotations"] = [ann for ann in data["annotations"] if ann["image_id"] != broken["id"]]
    (tmp_path / "two.json").write_text(json.dumps(data))
    assert _eval(tiny_run, root, tmp_path / "two.json", tmp_path / "two" / "metrics.json") == 0
    two = json.loads((tmp_path / "two" / "metrics.json").read_text())
    assert with_bad["num_images"] == two["num_images"] == 2
    assert with_bad["segm"] == two["segm"] and with_bad["bbox"] == two["bbox"]


def test_eval_with_every_image_unreadable_is_an_error(tiny_run, tmp_path):
    root = tmp_path / "val"
    shutil.copytree(tiny_run.val_images, root)
    for path in root.iterdir():
        Image.fromarray(np.zeros((4, 4, 3), dtype=np.uint8)).save(path)  # readable, but the wrong size
    done = cli(
        "eval",
        "--checkpoint",
        str(tiny_run.checkpoint),
        "--data-root",
        str(root),
        "--ann",
        str(tiny_run.val_ann),
    )
    assert "no image to evaluate: 3 in the dataset, none readable" in one_line_error(done)
