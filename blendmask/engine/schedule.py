"""Optimizers and learning-rate schedules: linear warm-up, then step decay or cosine annealing."""

from __future__ import annotations

import functools
import math

import torch
from torch import nn

from ..config import LR_SCHEDULES, OPTIMIZERS

WARMUP_FACTOR = 0.001  # the learning rate starts at lr * WARMUP_FACTOR and rises linearly
STEP_GAMMA = 0.1  # factor applied at every entry of lr_steps


def lr_factor(
    iteration: int,
    *,
    max_iter: int,
    warmup_iters: int,
    schedule: str = "step",
    steps: tuple[int, ...] = (),
    gamma: float = STEP_GAMMA,
    warmup_factor: float = WARMUP_FACTOR,
) -> float:
    """Multiplier of the base learning rate for the update made at ``iteration`` (0-based).

    Warm-up scales linearly from ``warmup_factor`` to 1 over ``warmup_iters``; it multiplies the
    main schedule, which is ``gamma ** (number of steps <= iteration)`` or a cosine from 1 at 0 to 0
    at ``max_iter``.
    """
    if schedule not in LR_SCHEDULES:
        raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES}, got {schedule!r}")
    if schedule == "step":
        factor = gamma ** sum(1 for step in steps if iteration >= step)
    else:
        factor = 0.5 * (1.0 + math.cos(math.pi * min(iteration, max_iter) / max(max_iter, 1)))
    if iteration < warmup_iters:
        alpha = iteration / warmup_iters
        factor *= warmup_factor * (1.0 - alpha) + alpha
    return factor


def build_optimizer(model: nn.Module, cfg) -> torch.optim.Optimizer:
    """SGD with momentum (the paper) or AdamW (CPU presets) from ``cfg.optimizer``.

    Weight decay applies to weight matrices and kernels only, not to biases and norm parameters.
    The fused kernels are used on CPU and CUDA (on CPU, AdamW's step is ~10x faster than the loop).
    """
    decay, no_decay, devices = [], [], set()
    for param in model.parameters():
        if param.requires_grad:
            (decay if param.ndim > 1 else no_decay).append(param)
            devices.add(param.device.type)
    fused = devices <= {"cpu", "cuda"}
    groups = [
        {"params": decay, "weight_decay": cfg.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, fused=fused)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=cfg.lr, fused=fused)
    raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {cfg.optimizer!r}")


def build_scheduler(optimizer: torch.optim.Optimizer, cfg) -> torch.optim.lr_scheduler.LambdaLR:
    """A per-iteration LambdaLR following :func:`lr_factor` with the config's schedule."""
    factor = functools.partial(
        lr_factor,
        max_iter=cfg.max_iter,
        warmup_iters=cfg.warmup_iters,
        schedule=cfg.lr_schedule,
        steps=tuple(cfg.lr_steps),
    )
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
