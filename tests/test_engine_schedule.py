"""Warm-up, step and cosine learning-rate schedules; optimizer parameter groups."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from blendmask.engine.schedule import WARMUP_FACTOR, build_optimizer, build_scheduler, lr_factor


def _cfg(**overrides):
    values = dict(
        optimizer="sgd",
        lr=0.1,
        weight_decay=1e-4,
        momentum=0.9,
        max_iter=100,
        warmup_iters=10,
        lr_schedule="step",
        lr_steps=(60, 80),
    )
    values.update(overrides)
    return SimpleNamespace(**values)


def test_warmup_is_linear_from_the_warmup_factor():
    assert lr_factor(0, max_iter=100, warmup_iters=10) == pytest.approx(WARMUP_FACTOR)
    assert lr_factor(5, max_iter=100, warmup_iters=10) == pytest.approx((WARMUP_FACTOR + 1) / 2)
    assert lr_factor(10, max_iter=100, warmup_iters=10) == pytest.approx(1.0)


def test_step_schedule_decays_by_gamma_at_each_step():
    values = [lr_factor(i, max_iter=100, warmup_iters=0, steps=(60, 80)) for i in (59, 60, 79, 80, 99)]
    assert values == pytest.approx([1.0, 0.1, 0.1, 0.01, 0.01])


def test_cosine_goes_from_one_to_zero():
    def factor(i):
        return lr_factor(i, max_iter=100, warmup_iters=0, schedule="cosine")

    assert factor(0) == pytest.approx(1.0)
    assert factor(50) == pytest.approx(0.5)
    assert factor(100) == pytest.approx(0.0, abs=1e-12)
    assert all(factor(i) > factor(i + 1) for i in range(100))


def test_unknown_schedule_is_refused():
    with pytest.raises(ValueError, match="lr_schedule"):
        lr_factor(0, max_iter=10, warmup_iters=0, schedule="linear")


@pytest.mark.parametrize("schedule", ["step", "cosine"])
def test_scheduler_drives_the_optimizer(schedule):
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    cfg = _cfg(lr_schedule=schedule)
    optimizer = build_optimizer(model, cfg)
    scheduler = build_scheduler(optimizer, cfg)
    lrs = []
    for _ in range(cfg.max_iter):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    expected = [
        0.1 * lr_factor(i, max_iter=100, warmup_iters=10, schedule=schedule, steps=(60, 80))
        for i in range(100)
    ]
    assert lrs == pytest.approx(expected)


def test_optimizers_and_weight_decay_groups():
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    sgd = build_optimizer(model, _cfg())
    assert isinstance(sgd, torch.optim.SGD)
    decayed, plain = sgd.param_groups
    assert [p.ndim for p in decayed["params"]] == [4] and decayed["weight_decay"] == 1e-4
    assert len(plain["params"]) == 3 and plain["weight_decay"] == 0.0
    assert isinstance(build_optimizer(model, _cfg(optimizer="adamw")), torch.optim.AdamW)
    with pytest.raises(ValueError, match="optimizer"):
        build_optimizer(model, _cfg(optimizer="lion"))
