"""The notebooks' workspace: the small-work settings, their training config and the shared checkpoint."""

from __future__ import annotations

import json

import pytest

from blendmask import BlendMaskConfig
from blendmask.engine import load_checkpoint
from blendmask.lab import workspace
from blendmask.lab.demo import DEMO_NUM_TRAIN, DEMO_OVERRIDES


def test_smoke_and_full_settings_never_share_a_folder(tmp_path):
    smoke = workspace.notebook_settings(tmp_path, environ={"BLENDMASK_SMOKE": "1"})
    full = workspace.notebook_settings(tmp_path, environ={})
    assert smoke.out_dir == tmp_path / "smoke" and full.out_dir == tmp_path / "full"
    assert (smoke.mode, full.mode) == ("smoke", "full")
    assert full.iters == BlendMaskConfig.from_preset("cpu_tiny").max_iter and full.num_train == DEMO_NUM_TRAIN
    assert smoke.iters < full.iters and smoke.num_train < full.num_train
    assert "BLENDMASK_SMOKE=1" in smoke.describe() and str(full.out_dir) in full.describe()


def test_notebook_config_carries_the_budget_and_classes(tmp_path):
    settings = workspace.notebook_settings(tmp_path, environ={"BLENDMASK_SMOKE": "1"})
    cfg = workspace.notebook_config(settings, ["a", "b"])
    assert (cfg.max_iter, cfg.batch_size) == (settings.iters, settings.batch_size)
    assert (cfg.num_classes, cfg.class_names) == (2, ["a", "b"])
    fitted = BlendMaskConfig.from_preset(
        "cpu_tiny", **DEMO_OVERRIDES, num_classes=2, class_names=["a", "b"], batch_size=settings.batch_size
    ).with_iters(settings.iters)
    assert cfg == fitted  # the schedule is shortened by BlendMaskConfig.with_iters, nothing else
    assert (
        workspace.notebook_config(workspace.notebook_settings(tmp_path, environ={}), ["a"]).warmup_iters == 50
    )


def _workspace(root):
    return workspace.Workspace(
        out_dir=root,
        checkpoint=root / "run" / "last.pt",
        train_images=root / "data" / "train",
        train_ann=root / "data" / "train.json",
        val_images=root / "data" / "val",
        val_ann=root.parent / "elsewhere" / "val.json",
        categories=("ellipse", "star"),
        iterations=7,
        data="synthetic shapes",
    )


def test_workspace_round_trips_with_relative_paths(tmp_path):
    record = _workspace(tmp_path / "full")
    path = record.save()
    stored = json.loads(path.read_text())
    assert stored["checkpoint"] == "run/last.pt"
    assert stored["val_ann"] == str((tmp_path / "elsewhere" / "val.json").resolve())
    loaded = workspace.Workspace.load(tmp_path / "full")
    assert loaded.checkpoint.resolve() == record.checkpoint.resolve()
    assert loaded.val_ann == (tmp_path / "elsewhere" / "val.json").resolve()
    assert (loaded.categories, loaded.iterations, loaded.data) == (("ellipse", "star"), 7, "synthetic shapes")


def test_workspace_load_names_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="workspace.json"):
        workspace.Workspace.load(tmp_path)
    (tmp_path / "workspace.json").write_text("{not json")
    with pytest.raises(ValueError, match="malformed"):
        workspace.Workspace.load(tmp_path)
    (tmp_path / "workspace.json").write_text(json.dumps({"checkpoint": "x"}))
    with pytest.raises(ValueError, match="train_images"):
        workspace.Workspace.load(tmp_path)


def test_ensure_checkpoint_trains_once_then_reuses(tmp_path, monkeypatch):
    settings = workspace.NotebookSettings(
        smoke=True, out_dir=tmp_path / "smoke", iters=1, batch_size=1, num_train=2, num_val=1, num_show=1
    )
    first = workspace.ensure_checkpoint(settings, progress=False)
    state = load_checkpoint(first.checkpoint)
    assert state["iteration"] == 1 and list(state["categories"]) == list(first.categories)
    assert first.val_set().image_ids and (tmp_path / "smoke" / "workspace.json").is_file()

    def no_training(*args, **kwargs):
        raise AssertionError("trained again although the checkpoint exists")

    monkeypatch.setattr(workspace, "train", no_training)
    again = workspace.ensure_checkpoint(settings, progress=False)
    assert again.checkpoint.resolve() == first.checkpoint.resolve()
