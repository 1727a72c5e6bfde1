"""Every stop of the ``blendmask`` command is one line on stderr with an exit code, never a traceback."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time

import pytest
import torch
from reliability_helpers import REPO, cli, one_line_error

from blendmask.cli import main
from blendmask.engine import load_checkpoint, save_checkpoint


def _edited_checkpoint(tiny_run, path, edit):
    state = load_checkpoint(tiny_run.checkpoint)
    edit(state)
    save_checkpoint(state, path)
    return path


def test_device_cuda_without_cuda_is_one_line(tiny_run, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    commands = [
        tiny_run.train_args(tmp_path / "t", "--iters", "1") + ["--device", "cuda"],
        ["eval", "--checkpoint", str(tiny_run.checkpoint), "--data-root", str(tiny_run.val_images),
         "--ann", str(tiny_run.val_ann), "--device", "cuda"],
        ["predict", "--checkpoint", str(tiny_run.checkpoint), str(tiny_run.val_images),
         "--out", str(tmp_path / "p"), "--device", "cuda"],
    ]  # fmt: skip
    for command in commands:
        assert "--device cuda: CUDA is not available" in one_line_error(cli(*command))


def test_set_with_a_value_of_the_wrong_type_names_the_field(tiny_run, tmp_path):
    error = one_line_error(cli(*tiny_run.train_args(tmp_path, "--iters", "1"), "lr=abc"))
    assert "lr expects float" in error and "'abc'" in error


def test_checkpoint_whose_config_does_not_fit_its_weights(tiny_run, tmp_path):
    def wider_attention(state):
        state["config"]["attn_size"] = 8

    bad = _edited_checkpoint(tiny_run, tmp_path / "bad.pt", wider_attention)
    error = one_line_error(
        cli("predict", "--checkpoint", str(bad), str(tiny_run.val_images), "--out", str(tmp_path))
    )
    assert str(bad) in error and "do not fit" in error and "size mismatch" in error


def test_resume_with_another_rkm_names_the_checkpoint(tiny_run, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(tiny_run.checkpoint.parent, out)
    args = tiny_run.train_args(out, "--iters", "3", "--resume")
    args[args.index("14_4_4")] = "14_4_8"
    error = one_line_error(cli(*args))
    assert f"--resume {out / 'last.pt'}" in error and "do not fit" in error


def test_non_finite_stop_keeps_a_checkpoint_that_trains_on(tiny_run, tmp_path):
    done = cli(*tiny_run.train_args(tmp_path, "--iters", "30", "--lr", "1e6", "--checkpoint-period", "1"))
    error = one_line_error(done, code=3)
    assert "non-finite" in error and "training stopped" in error
    if not (tmp_path / "last.pt").exists():
        pytest.fail(f"no checkpoint kept: {error}")
    state = load_checkpoint(tmp_path / "last.pt")
    assert all(torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point())
    # the kept weights gave a finite loss: one more iteration from them trains without a stop
    assert (
        main(tiny_run.train_args(tmp_path, "--iters", str(state["iteration"] + 1), "--lr", "1e6", "--resume"))
        == 0
    )


def test_disk_full_leaves_the_checkpoint_and_names_the_folder(tiny_run, tmp_path, monkeypatch, capsys):
    import os
    import tempfile

    out = tmp_path / "run"
    shutil.copytree(tiny_run.checkpoint.parent, out)
    before = (out / "last.pt").read_bytes()

    def full_disk(prefix, suffix, dir):  # noqa: A002 (tempfile's keyword)
        return os.open("/dev/full", os.O_WRONLY), str(tmp_path / f"{prefix}x{suffix}")

    monkeypatch.setattr(tempfile, "mkstemp", full_disk)
    code = main(tiny_run.train_args(out, "--iters", "3", "--resume"))
    error = capsys.readouterr().err
    assert code == 2 and f"no space left on {out}" in error and "Traceback" not in error
    assert (out / "last.pt").read_bytes() == before


def test_double_ctrl_c_is_one_line_and_exit_130(tiny_run, tmp_path):
    out = tmp_path / "run"
    args = tiny_run.train_args(out, "--iters", "10000", "--checkpoint-period", "1")
    env = {"PYTHONPATH": str(REPO), "CUDA_VISIBLE_DEVICES": ""}
    process = subprocess.Popen(
        [sys.executable, "-m", "blendmask.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**__import__("os").environ, **env},
    )
    deadline = time.monotonic() + 120
    while not (out / "last.pt").exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr[-2000:]
    assert "Traceback" not in stderr, stderr[-2000:]
    load_checkpoint(out / "last.pt")  # still a complete checkpoint


def test_string_image_id_is_refused_before_inference(tiny_run, tmp_path):
    data = json.loads(tiny_run.val_ann.read_text())
    data["images"][0]["id"] = "first"
    for ann in data["annotations"]:
        ann["image_id"] = "first" if ann["image_id"] == 0 else ann["image_id"]
    ann = tmp_path / "ann.json"
    ann.write_text(json.dumps(data))
    error = one_line_error(
        cli(
            "eval",
            "--checkpoint",
            str(tiny_run.checkpoint),
            "--data-root",
            str(tiny_run.val_images),
            "--ann",
            str(ann),
        )
    )
    assert "image id 'first'" in error and "must be an integer" in error


def test_eval_with_a_wrong_data_root(tiny_run, tmp_path):
    base = ["eval", "--checkpoint", str(tiny_run.checkpoint), "--ann", str(tiny_run.val_ann)]
    error = one_line_error(cli(*base, "--data-root", str(tmp_path)))
    assert f"--data-root {tmp_path}: 0 of the 3 images" in error
    partial = tmp_path / "partial"
    shutil.copytree(tiny_run.val_images, partial)
    sorted(partial.iterdir())[0].unlink()
    done = cli(*base, "--data-root", str(partial))
    assert done.returncode == 0 and "only 2 of the 3 images" in done.stderr
    assert "only 2 of the 3 images" in one_line_error(cli(*base, "--data-root", str(partial), "--strict"))


def test_debug_shows_the_traceback(tiny_run, tmp_path):
    args = [
        "eval",
        "--checkpoint",
        str(tiny_run.checkpoint),
        "--ann",
        str(tiny_run.val_ann),
        "--data-root",
        str(tmp_path),
    ]
    assert "Traceback" in cli("--debug", *args).stderr
    assert "Traceback" in cli(*args, env={"BLENDMASK_DEBUG": "1"}).stderr
