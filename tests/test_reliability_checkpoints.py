"""Checkpoints: a verified checksum, NaN weights refused, no leftovers, a kill -9 mid-save survived."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import textwrap

import pytest
import torch
from reliability_helpers import REPO, cli, one_line_error

from blendmask.cli import main
from blendmask.engine import Predictor, load_checkpoint, save_checkpoint
from blendmask.errors import DiskFullError


def test_flipped_bytes_fail_the_checksum(tiny_run, tmp_path):
    data = bytearray(tiny_run.checkpoint.read_bytes())
    middle = len(data) // 2  # the bulk of the file is tensor data
    data[middle : middle + 64] = bytes(255 - b for b in data[middle : middle + 64])
    (tmp_path / "flipped.pt").write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"flipped.pt: checkpoint is corrupted \(its tensors do not match"):
        load_checkpoint(tmp_path / "flipped.pt")
    done = cli(
        "predict",
        "--checkpoint",
        str(tmp_path / "flipped.pt"),
        str(tiny_run.val_images),
        "--out",
        str(tmp_path),
    )
    assert "checkpoint is corrupted" in one_line_error(done)


def test_nan_weights_warn_at_load_and_stop_predict(tiny_run, tmp_path):
    state = load_checkpoint(tiny_run.checkpoint)
    name = next(name for name, value in state["model"].items() if value.is_floating_point())
    state["model"][name].fill_(float("nan"))
    save_checkpoint(state, tmp_path / "nan.pt")
    with pytest.warns(
        UserWarning, match=rf"1 weight tensor\(s\) hold NaN or infinite values \(e.g. {name}\)"
    ):
        load_checkpoint(tmp_path / "nan.pt")
    with pytest.raises(ValueError, match="NaN or infinite"):
        Predictor(tmp_path / "nan.pt")


def test_disk_full_keeps_the_previous_file(tmp_path, monkeypatch):
    path = save_checkpoint({"model": {"w": torch.ones(3)}}, tmp_path / "last.pt")
    before = path.read_bytes()
    monkeypatch.setattr(
        tempfile,
        "mkstemp",
        lambda prefix, suffix, dir: (os.open("/dev/full", os.O_WRONLY), str(tmp_path / "x.tmp")),
    )
    with pytest.raises(
        DiskFullError, match=f"no space left on {tmp_path} writing last.pt; .* left as it was"
    ):
        save_checkpoint({"model": {"w": torch.zeros(3)}}, path)
    assert path.read_bytes() == before


KILLED_WRITER = """
import os, sys, time
from blendmask.engine import checkpoint, load_checkpoint
def stalled_fsync(fd):  # the temporary file is written; be killed before it replaces last.pt
    print("writing", flush=True)
    time.sleep(600)
os.fsync = stalled_fsync
state = load_checkpoint(sys.argv[1])
state["iteration"] = 99
checkpoint.save_checkpoint(state, sys.argv[1])
"""


def test_kill_9_during_a_save_then_resume(tiny_run, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    checkpoint = out / "last.pt"
    checkpoint.write_bytes(tiny_run.checkpoint.read_bytes())
    before = checkpoint.read_bytes()
    writer = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(KILLED_WRITER), str(checkpoint)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert writer.stdout.readline().strip() == "writing"
    writer.send_signal(signal.SIGKILL)
    writer.wait(timeout=60)
    stale = list(out.glob(".last.pt.*.tmp"))
    assert len(stale) == 1 and stale[0].stat().st_size > 0  # what a killed write leaves behind
    assert checkpoint.read_bytes() == before

    assert main(tiny_run.train_args(out, "--iters", "3", "--resume")) == 0
    assert load_checkpoint(checkpoint)["iteration"] == 3
    assert not list(out.glob(".last.pt.*.tmp")), "the stale temporary file is cleaned at the next start"
