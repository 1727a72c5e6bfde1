"""The training loop: metrics log, checkpoints, deterministic resume, Ctrl-C, non-finite losses."""

from __future__ import annotations

import json
import os
import signal

import pytest
import torch

from blendmask.config import BlendMaskConfig
from blendmask.data import make_synthetic_coco
from blendmask.engine import NonFiniteLossError, Predictor, coco_train_set, load_checkpoint, train
from blendmask.engine.precision import amp_settings

SIZE = 64


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    return make_synthetic_coco(
        tmp_path_factory.mktemp("data"), num_train=8, num_val=2, image_size=SIZE, seed=3
    )


def tiny_config(**overrides) -> BlendMaskConfig:
    values = dict(
        num_classes=3,
        min_size_train=(SIZE, SIZE + 32),
        max_size_train=SIZE + 32,
        batch_size=2,
        max_iter=4,
        warmup_iters=1,
    )
    values.update(overrides)
    return BlendMaskConfig.from_preset("cpu_tiny", **values)


class Hooked:
    """A training set that runs ``hook(image)`` on the image of its ``at``-th item fetched (0-based)."""

    def __init__(self, dataset, at: int, hook):
        self.dataset, self.at, self.hook, self.calls = dataset, at, hook, 0
        self.categories = dataset.categories

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, index):
        image, target = self.dataset[index]
        if self.calls == self.at:
            image = self.hook(image)
        self.calls += 1
        return image, target


def _send_sigint(image):
    os.kill(os.getpid(), signal.SIGINT)
    return image


def _nan_image(image):
    return torch.full_like(image, float("nan"))


def _assert_same_weights(a: dict, b: dict):
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name


def test_training_writes_metrics_and_a_complete_checkpoint(synthetic, tmp_path):
    cfg = tiny_config()
    result = train(
        cfg,
        coco_train_set(cfg, synthetic.train_images, synthetic.train_ann),
        out_dir=tmp_path,
        log_period=2,
        progress=False,
    )
    assert result.iteration == 4 and not result.interrupted
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["iter"] for r in records] == [2, 4]
    for record in records:
        for key in ("loss_cls", "loss_box", "loss_ctr", "loss_mask", "total_loss", "lr", "time"):
            assert key in record
        losses = sum(v for k, v in record.items() if k.startswith("loss_"))
        assert record["total_loss"] == pytest.approx(losses, rel=1e-5)
    state = load_checkpoint(result.checkpoint)
    assert state["iteration"] == 4
    assert state["categories"] == ["ellipse", "rectangle", "triangle"]
    assert BlendMaskConfig.from_dict(state["config"]) == cfg
    for key in ("optimizer", "scheduler", "rng"):
        assert state[key]
    _assert_same_weights(state["model"], result.model.state_dict())
    prediction = Predictor(result.checkpoint, device="cpu").predict(torch.rand(3, 50, 70))
    assert prediction["masks"].shape[1:] == (50, 70)


@pytest.mark.slow
def test_ctrl_c_then_resume_equals_an_uninterrupted_run(synthetic, tmp_path):
    cfg = tiny_config(max_iter=5)
    train_set = coco_train_set(cfg, synthetic.train_images, synthetic.train_ann)
    full = train(cfg, train_set, out_dir=tmp_path / "full", deterministic=True, progress=False)

    # Ctrl-C while the batch of iteration 3 loads: iteration 3 completes, is saved, training returns.
    interrupted = train(
        cfg,
        Hooked(train_set, at=4, hook=_send_sigint),
        out_dir=tmp_path / "cut",
        deterministic=True,
        progress=False,
    )
    assert interrupted.interrupted and interrupted.iteration == 3
    assert load_checkpoint(tmp_path / "cut" / "last.pt")["iteration"] == 3
    resumed = train(cfg, train_set, out_dir=tmp_path / "cut", resume=True, deterministic=True, progress=False)
    assert resumed.iteration == 5 and not resumed.interrupted
    _assert_same_weights(full.model.state_dict(), resumed.model.state_dict())
    logged = [
        json.loads(line)["iter"] for line in (tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()
    ]
    assert logged == [3, 5]


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(synthetic, tmp_path):
    cfg = tiny_config(max_iter=6)
    train_set = Hooked(
        coco_train_set(cfg, synthetic.train_images, synthetic.train_ann), at=6, hook=_nan_image
    )  # the checkpoint of iteration 2 is written once iteration 3 gave a finite loss with its weights
    with pytest.raises(NonFiniteLossError, match=r"iteration 4: loss_\w+=nan") as error:
        train(cfg, train_set, out_dir=tmp_path, checkpoint_period=2, progress=False)
    assert str(tmp_path / "last.pt") in str(error.value)
    state = load_checkpoint(tmp_path / "last.pt")
    assert state["iteration"] == 2
    assert all(torch.isfinite(value).all() for value in state["model"].values() if value.is_floating_point())


def test_wrong_number_of_classes_is_refused(synthetic, tmp_path):
    cfg = tiny_config(num_classes=5)
    with pytest.raises(ValueError, match="3 categories but cfg.num_classes = 5"):
        train(cfg, coco_train_set(cfg, synthetic.train_images, synthetic.train_ann), out_dir=tmp_path)


def test_frozen_batchnorm_without_pretrained_weights_warns(synthetic, tmp_path, recwarn):
    cfg = tiny_config(max_iter=1, frozen_bn=True)
    train_set = coco_train_set(cfg, synthetic.train_images, synthetic.train_ann)
    with pytest.warns(UserWarning, match="frozen BatchNorm .* --set frozen_bn=False"):
        train(cfg, train_set, out_dir=tmp_path / "frozen", progress=False)
    recwarn.clear()
    train(tiny_config(max_iter=1), train_set, out_dir=tmp_path / "trainable", progress=False)
    assert not [w for w in recwarn if "frozen BatchNorm" in str(w.message)]


def test_mixed_precision_settings_on_cpu():
    cpu = torch.device("cpu")
    assert amp_settings(cpu, None) == (None, False)  # CPU default: float32
    assert amp_settings(cpu, False) == (None, False)
    assert amp_settings(cpu, True) == (torch.bfloat16, False)


def test_cpu_bfloat16_autocast_trains(synthetic, tmp_path):
    cfg = tiny_config(max_iter=2)
    train_set = coco_train_set(cfg, synthetic.train_images, synthetic.train_ann)
    result = train(cfg, train_set, out_dir=tmp_path, amp=True, log_period=1, progress=False)
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert len(records) == 2 and all(0 < r["total_loss"] < 100 for r in records)
    assert all(v.dtype == torch.float32 for v in result.model.state_dict().values() if v.is_floating_point())
