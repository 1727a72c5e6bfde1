"""Atomic checkpoint writes, safe loads, RNG state round trips."""

from __future__ import annotations

import pickle
import random

import numpy as np
import pytest
import torch

from blendmask.engine import checkpoint as ckpt


def _state(value: float) -> dict:
    return {
        "model": {"weight": torch.full((3,), value)},
        "iteration": int(value),
        "config": {"num_classes": 3, "min_size_train": [128]},
        "categories": ["ellipse", "rectangle", "triangle"],
        "rng": ckpt.rng_state(),
    }


def test_save_and_load_round_trip(tmp_path):
    path = ckpt.save_checkpoint(_state(2.0), tmp_path / "run" / "last.pt")
    state = ckpt.load_checkpoint(path)
    assert state["iteration"] == 2
    assert torch.equal(state["model"]["weight"], torch.full((3,), 2.0))
    assert state["categories"] == ["ellipse", "rectangle", "triangle"]
    assert sorted(p.name for p in path.parent.iterdir()) == ["last.pt"]  # no temporary file left


def test_interrupted_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = ckpt.save_checkpoint(_state(1.0), tmp_path / "last.pt")

    def dies_half_way(obj, handle):
        handle.write(b"PK\x03\x04 half a checkpoint")
        raise KeyboardInterrupt

    monkeypatch.setattr(ckpt.torch, "save", dies_half_way)
    with pytest.raises(KeyboardInterrupt):
        ckpt.save_checkpoint(_state(5.0), path)
    monkeypatch.undo()
    state = ckpt.load_checkpoint(path)
    assert state["iteration"] == 1
    assert torch.equal(state["model"]["weight"], torch.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def test_a_truncated_file_is_reported_by_name(tmp_path):
    path = ckpt.save_checkpoint(_state(1.0), tmp_path / "last.pt")
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ValueError, match="last.pt"):
        ckpt.load_checkpoint(path)
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        ckpt.load_checkpoint(tmp_path / "missing.pt")


class _Payload:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_loading_refuses_code(tmp_path, capsys):
    path = tmp_path / "evil.pt"
    torch.save({**_state(1.0), "extra": _Payload()}, path, pickle_module=pickle)
    with pytest.raises(ValueError, match="evil.pt"):
        ckpt.load_checkpoint(path)
    assert "must never run" not in capsys.readouterr().out


def test_missing_fields_are_named(tmp_path):
    path = ckpt.save_checkpoint({"model": {}, "iteration": 0}, tmp_path / "partial.pt")
    with pytest.raises(ValueError, match="config, categories"):
        ckpt.load_checkpoint(path)


def test_rng_state_round_trip_through_a_file(tmp_path):
    path = ckpt.save_checkpoint(_state(0.0), tmp_path / "last.pt")
    expected = (torch.rand(4), random.random(), np.random.rand(2))  # noqa: NPY002
    ckpt.set_rng_state(ckpt.load_checkpoint(path)["rng"])
    again = (torch.rand(4), random.random(), np.random.rand(2))  # noqa: NPY002
    assert torch.equal(expected[0], again[0])
    assert expected[1] == again[1]
    np.testing.assert_array_equal(expected[2], again[2])
