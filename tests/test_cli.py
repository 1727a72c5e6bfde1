"""Smoke tests of every ``blendmask`` subcommand on tiny data (a few iterations)."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from blendmask import BlendMaskConfig
from blendmask.cli import build_parser, main
from blendmask.data import make_synthetic_coco
from blendmask.engine import load_checkpoint
from blendmask.lab.commands import _train_config

COMMANDS = ("synth", "subset", "train", "eval", "predict", "render", "demo")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A synthetic set of 64 px images and a checkpoint trained for 2 iterations by the CLI."""
    root = tmp_path_factory.mktemp("cli")
    data = root / "data"
    assert main(["synth", "--out", str(data), "--num-train", "6", "--num-val", "3", "--size", "64"]) == 0
    args = [
        "train",
        "--data-root", str(data / "train"),
        "--train-ann", str(data / "annotations" / "instances_train.json"),
        "--val-ann", str(data / "annotations" / "instances_val.json"),
        "--val-root", str(data / "val"),
        "--preset", "cpu_tiny",
        "--rkm", "14_4_4",
        "--out", str(root / "run"),
        "--iters", "2",
        "--batch-size", "2",
        "--lr", "0.001",
        "--device", "cpu",
        "--eval-period", "1",
        "--set", "fcos_num_convs=1", "sem_loss_weight=0.5",
    ]  # fmt: skip
    assert main(args) == 0
    return root


def test_help_of_every_subcommand(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    usage = capsys.readouterr().out
    assert all(command in usage for command in COMMANDS)
    for command in COMMANDS:
        with pytest.raises(SystemExit) as exit_info:
            main([command, "--help"])
        assert exit_info.value.code == 0
        assert f"usage: blendmask {command}" in capsys.readouterr().out


def test_console_script_module_runs():
    done = subprocess.run(
        [sys.executable, "-m", "blendmask.cli", "synth", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0 and "--num-train" in done.stdout


def test_synth_writes_coco_json(run):
    train = json.loads((run / "data" / "annotations" / "instances_train.json").read_text())
    assert len(train["images"]) == 6 and train["annotations"]
    assert len(list((run / "data" / "val").glob("*.png"))) == 3


def test_train_writes_checkpoint_metrics_and_evaluation(run):
    state = load_checkpoint(run / "run" / "last.pt")
    assert state["iteration"] == 2
    assert state["config"]["bottom_resolution"] == 14 and state["config"]["attn_size"] == 4
    assert state["config"]["lr"] == 0.001 and state["config"]["batch_size"] == 2
    assert state["config"]["fcos_num_convs"] == 1 and state["config"]["sem_loss_weight"] == 0.5  # --set
    assert state["categories"] == ["ellipse", "rectangle", "triangle"]
    fitted = BlendMaskConfig.from_preset("cpu_tiny").with_iters(2)  # --iters 2
    assert {key: state["config"][key] for key in ("max_iter", "warmup_iters")} == {
        "max_iter": fitted.max_iter,
        "warmup_iters": fitted.warmup_iters,
    }
    records = [json.loads(line) for line in (run / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["iter"] for r in records if "segm_AP" in r] == [1, 2]  # --eval-period 1, then the final one
    assert [r["iter"] for r in records if "total_loss" in r] == [2]
    metrics = json.loads((run / "run" / "metrics.json").read_text())
    assert set(metrics["segm"]) == {"AP", "AP50", "AP75", "APs", "APm", "APl"}


def test_subset(run, tmp_path, capsys):
    out = tmp_path / "subset.json"
    ann = run / "data" / "annotations" / "instances_train.json"
    assert (
        main(
            ["subset", "--ann", str(ann), "--out", str(out), "--categories", "ellipse,2", "--max-images", "3"]
        )
        == 0
    )
    subset = json.loads(out.read_text())
    assert [c["name"] for c in subset["categories"]] == ["ellipse", "rectangle"]
    assert len(subset["images"]) <= 3
    assert "images" in capsys.readouterr().out


def test_eval_writes_metrics_and_coco_results(run, tmp_path, capsys):
    out = tmp_path / "eval" / "metrics.json"
    args = [
        "eval",
        "--checkpoint", str(run / "run" / "last.pt"),
        "--data-root", str(run / "data" / "val"),
        "--ann", str(run / "data" / "annotations" / "instances_val.json"),
        "--out", str(out),
    ]  # fmt: skip
    assert main(args) == 0
    metrics = json.loads(out.read_text())
    assert set(metrics) >= {"segm", "bbox", "per_category"}
    assert set(metrics["per_category"]) == {"ellipse", "rectangle", "triangle"}
    results = json.loads((out.parent / "coco_results.json").read_text())
    assert all(
        r["category_id"] in (1, 2, 3) and isinstance(r["segmentation"]["counts"], str) for r in results
    )
    assert "segm" in capsys.readouterr().out


def test_eval_refuses_other_categories(run, tmp_path, capsys):
    ann = json.loads((run / "data" / "annotations" / "instances_val.json").read_text())
    ann["categories"][0]["name"] = "circle"
    other = tmp_path / "other.json"
    other.write_text(json.dumps(ann))
    args = ["eval", "--checkpoint", str(run / "run" / "last.pt"), "--data-root", str(run / "data" / "val")]
    assert main([*args, "--ann", str(other)]) == 2
    assert "circle" in capsys.readouterr().err


def test_predict_writes_overlays(run, tmp_path):
    photo = tmp_path / "photo.jpg"
    Image.fromarray(np.full((40, 50, 3), 200, dtype=np.uint8)).save(photo)
    image = sorted((run / "data" / "val").glob("*.png"))[0]
    out = tmp_path / "overlays"
    args = [
        "predict",
        "--checkpoint",
        str(run / "run" / "last.pt"),
        str(image),
        str(photo),
        "--out",
        str(out),
    ]
    assert main([*args, "--score-threshold", "0.0"]) == 0
    # small images are enlarged by a whole factor until the shorter side reaches 384 px
    assert Image.open(out / f"{image.stem}_png.png").size == (64 * 6, 64 * 6)  # the extension kept
    assert Image.open(out / "photo_jpg.png").size == (50 * 10, 40 * 10)


def test_render_writes_figures(run, tmp_path):
    image = sorted((run / "data" / "val").glob("*.png"))[0]
    out = tmp_path / "render"
    assert (
        main(
            ["render", "--checkpoint", str(run / "run" / "last.pt"), "--image", str(image), "--out", str(out)]
        )
        == 0
    )
    written = sorted(p.name for p in out.iterdir())
    assert f"{image.stem}_figure3_bases.png" in written
    assert all(Image.open(out / name).size[0] > 100 for name in written)


def test_missing_files_give_a_clear_error(tmp_path, capsys):
    assert (
        main(["eval", "--checkpoint", str(tmp_path / "none.pt"), "--data-root", ".", "--ann", "x.json"]) == 2
    )
    assert "none.pt" in capsys.readouterr().err


@pytest.mark.slow
def test_demo_end_to_end_on_a_tiny_budget(tmp_path, capsys):
    out = tmp_path / "demo"
    # --minutes: the iterations come from the measured speed of a few steps (1.2 s -> a handful)
    assert main(["demo", "--out", str(out), "--minutes", "0.02", "--num-train", "8", "--num-val", "2"]) == 0
    printed = capsys.readouterr().out
    assert "mask AP" in printed and "next: make lab" in printed
    iterations = int(re.search(r"at the measured speed: (\d+) iterations", printed).group(1))
    assert load_checkpoint(out / "run" / "last.pt")["iteration"] == iterations >= 1
    metrics = json.loads((out / "metrics.json").read_text())
    assert 0.0 <= metrics["segm"]["AP"] <= 1.0 and metrics["num_images"] == 2
    assert len(list((out / "overlays").glob("*.png"))) == 2
    assert (out / "figure3_bases.png").is_file()


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_demo_precision_and_seed_are_honoured(tmp_path, capsys, precision):
    out = tmp_path / "demo"
    args = ["demo", "--out", str(out), "--iters", "2", "--num-train", "4", "--num-val", "1", "--seed", "3"]
    assert main([*args, "--precision", precision]) == 0
    summary = capsys.readouterr().out
    assert f"batch 8, {'bfloat16 autocast' if precision == 'bfloat16' else 'float32'}:" in summary
    # the seed reaches the synthetic set: seed 3 draws other shapes than seed 0
    seed0 = make_synthetic_coco(tmp_path / "seed0", num_train=4, num_val=1, seed=0)
    seed3 = json.loads((out / "data" / "annotations" / "instances_train.json").read_text())
    assert seed3["annotations"] != json.loads(seed0.train_ann.read_text())["annotations"]


def test_set_parses_config_values():
    def parsed(*settings: str) -> list:
        return build_parser().parse_args(["train", "--data-root", ".", "--train-ann", "a.json", "--out", "r",
                                          "--set", *settings]).set  # fmt: skip

    assert parsed("frozen_bn=False", "lr_steps=[10, 20]", "fcos_score_thresh=0.05") == [
        ("frozen_bn", False),
        ("lr_steps", (10, 20)),
        ("fcos_score_thresh", 0.05),
    ]
    assert parsed("backbone_weights=ResNet50_Weights.DEFAULT") == [
        ("backbone_weights", "ResNet50_Weights.DEFAULT")
    ]
    with pytest.raises(SystemExit):
        parsed("frozen_bn")


def test_set_names_an_unknown_field(run, tmp_path, capsys):
    data = run / "data"
    args = ["train", "--data-root", str(data / "train"), "--train-ann",
            str(data / "annotations" / "instances_train.json"), "--out", str(tmp_path / "r"),
            "--set", "no_such_field=1"]  # fmt: skip
    assert main(args) == 2
    assert "no_such_field" in capsys.readouterr().err


def test_parser_rejects_bad_numbers():
    with pytest.raises(SystemExit):
        build_parser().parse_args(["demo", "--iters", "0"])
    with pytest.raises(SystemExit):
        build_parser().parse_args(["demo", "--iters", "5", "--minutes", "1"])
    with pytest.raises(SystemExit):
        build_parser().parse_args(["demo", "--precision", "float16"])


def test_train_iters_fits_the_schedule_with_with_iters():
    def config(*extra: str):
        argv = ["train", "--data-root", ".", "--train-ann", "a.json", "--out", "r", "--preset", "R_50_1x"]
        return _train_config(build_parser().parse_args([*argv, *extra]))

    preset = BlendMaskConfig.from_preset("R_50_1x")
    assert config() == preset
    assert config("--iters", "900") == preset.with_iters(900)
    assert config("--iters", "900", "--set", "lr_steps=(300,)") == BlendMaskConfig.from_preset(
        "R_50_1x", lr_steps=(300,)
    ).with_iters(900)  # --set gives the full-length schedule, --iters then fits it
