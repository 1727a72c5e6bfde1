"""Shared fixtures of the reliability tests: a tiny synthetic set, a 2-iteration checkpoint, the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import blendmask
from blendmask.cli import main
from blendmask.data import make_synthetic_coco

REPO = Path(blendmask.__file__).resolve().parents[1]
TINY = ["--preset", "cpu_tiny", "--rkm", "14_4_4", "--batch-size", "2", "--device", "cpu"]
TINY_SET = ["--set", "fcos_num_convs=1", "min_size_train=(64,)", "max_size_train=64"]


@dataclass
class TinyRun:
    root: Path
    train_images: Path
    train_ann: Path
    val_images: Path
    val_ann: Path
    checkpoint: Path

    def train_args(self, out: Path, *extra: str) -> list[str]:
        return [
            "train",
            "--data-root", str(self.train_images),
            "--train-ann", str(self.train_ann),
            "--out", str(out),
            *TINY,
            *extra,
            *TINY_SET,
        ]  # fmt: skip


def make_tiny_run(root: Path) -> TinyRun:
    """Four 64 px training images, three validation images and a checkpoint after 2 iterations."""
    data = make_synthetic_coco(root / "data", num_train=4, num_val=3, image_size=64, seed=1)
    run = TinyRun(
        root, data.train_images, data.train_ann, data.val_images, data.val_ann, root / "run" / "last.pt"
    )
    assert main([*run.train_args(root / "run", "--iters", "2", "--lr", "0.001")]) == 0
    return run


def cli(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """``python -m blendmask.cli ARGS`` in a subprocess (exit code, stdout, stderr as text)."""
    environ = {key: value for key, value in os.environ.items() if key != "BLENDMASK_DEBUG"}
    environ.update({"PYTHONPATH": str(REPO), "CUDA_VISIBLE_DEVICES": "", **(env or {})})
    return subprocess.run(
        [sys.executable, "-m", "blendmask.cli", *args],
        capture_output=True,
        text=True,
        env=environ,
        timeout=timeout,
        check=False,
    )


def one_line_error(done: subprocess.CompletedProcess, code: int = 2) -> str:
    """The stderr of a failed command, after checking its exit code and that it shows no traceback."""
    assert done.returncode == code, (done.returncode, done.stderr[-2000:])
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    return done.stderr
