"""The training loop: one process or DDP under torchrun, CPU or CUDA (AMP), resumable, interruptible.

Writes into ``out_dir``:
    last.pt         the newest checkpoint (atomically replaced every ``checkpoint_period`` and at the end);
                    a periodic one is written only once the next iteration's loss, computed with
                    its weights, is finite, so it never holds weights that already diverge
    metrics.jsonl   one JSON object per logged iteration: iter, each loss, total_loss, lr, time, data_time
    metrics.json    final COCO metrics when a validation set is given
    events.*        TensorBoard scalars when tensorboard is installed
"""

from __future__ import annotations

import math
import signal
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from ..config import BlendMaskConfig
from ..data import collate
from ..errors import UsageError
from ..modeling.blendmask import BlendMask
from . import distributed as du
from .checkpoint import (
    checkpoint_bytes,
    load_checkpoint,
    load_model_weights,
    non_finite_weights,
    remove_stale_temporaries,
    rng_state,
    set_rng_state,
    write_atomically,
)
from .evaluate import evaluate
from .metrics_log import MetricsLog, tensorboard_writer
from .precision import amp_settings
from .sampling import SeededSamples, StreamSampler
from .schedule import build_optimizer, build_scheduler

CHECKPOINT_NAME = "last.pt"
FROZEN_BN_FROM_SCRATCH = (
    "training a {backbone} with frozen BatchNorm (frozen_bn=True) but no pretrained backbone_weights: "
    "its BatchNorm layers stay the identity, which makes training from scratch unstable. Name ImageNet "
    "weights, e.g. backbone_weights='ResNet50_Weights.IMAGENET1K_V1' (fetched by torchvision), or train "
    "the BatchNorm layers (frozen_bn=False); on the command line: --set frozen_bn=False"
)


class NonFiniteLossError(FloatingPointError):
    """Raised when a loss or a weight becomes NaN or infinite; the last good checkpoint is left in place."""


@dataclass
class TrainResult:
    """What :func:`train` leaves behind."""

    model: nn.Module  # the trained model (unwrapped from DDP), in eval mode
    iteration: int  # completed iterations
    checkpoint: Path | None  # the checkpoint written last (None on ranks other than 0)
    interrupted: bool  # True when stopped by Ctrl-C before max_iter
    seconds: float  # wall time of the training loop
    metrics: dict[str, Any] | None  # final COCO metrics when a validation set was given


class _StopRequest:
    """SIGINT handler for the main thread: the first Ctrl-C asks the loop to stop after the current
    iteration (the loop then saves and returns); a second one interrupts at once."""

    def __init__(self) -> None:
        self.requested = False

    def __call__(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    @contextmanager
    def installed(self) -> Iterator[_StopRequest]:
        try:
            previous = signal.signal(signal.SIGINT, self)
        except ValueError:  # not the main thread: leave signals alone
            yield self
            return
        try:
            yield self
        finally:
            signal.signal(signal.SIGINT, previous)


def _to_device(images: list[torch.Tensor], targets: list[dict], device: torch.device):
    images = [image.to(device, non_blocking=True) for image in images]
    targets = [
        {
            key: value.to(device, non_blocking=True) if torch.is_tensor(value) else value
            for key, value in t.items()
        }
        for t in targets
    ]
    return images, targets


def _resolve_device(device: str | torch.device | None) -> torch.device:
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise UsageError("--device cuda: CUDA is not available on this machine; use --device cpu")
        if du.is_distributed() and device.index is None:
            device = torch.device("cuda", torch.cuda.current_device())
    return device


def train(
    cfg: BlendMaskConfig,
    train_set: Dataset,
    *,
    out_dir: str | Path,
    val_set: Dataset | None = None,
    device: str | torch.device | None = None,
    resume: bool = False,
    workers: int = 0,
    seed: int = 0,
    checkpoint_period: int = 500,
    log_period: int = 20,
    eval_period: int = 0,
    amp: bool | None = None,
    sync_bn: bool = False,
    deterministic: bool = False,
    progress: bool = True,
) -> TrainResult:
    """Train ``BlendMask(cfg)`` on ``train_set``: ``cfg.max_iter`` steps of global batch ``cfg.batch_size``.

    ``train_set`` yields ``(image (3,H,W) float 0..1, target)`` already augmented for training and has
    ``.categories`` (class names in label order, ``len == cfg.num_classes``). Inside an initialised
    process group (torchrun, see ``distributed.init_distributed``) the model is wrapped in DDP, each
    rank takes ``batch_size / world_size`` images, and only rank 0 logs, evaluates and writes files.

    ``resume`` continues from ``out_dir/last.pt`` when it exists (with ``deterministic``, the same
    weights at the end as an uninterrupted run; without it, the same schedule and data order but
    not bitwise-equal weights). Ctrl-C stops after the current iteration, saves and returns with
    ``interrupted=True``. A non-finite loss raises :class:`NonFiniteLossError` and writes nothing:
    ``last.pt`` stays the last checkpoint whose weights gave a finite loss.
    ``amp``: mixed precision, by default on CUDA only (bfloat16, or float16 with a GradScaler);
    True also on CPU (bfloat16 autocast, ~1.5x faster on CPUs with native bfloat16). ``sync_bn`` converts
    BatchNorm layers to SyncBatchNorm (CUDA + DDP only); ``deterministic`` selects deterministic
    kernels for the loop (bitwise-reproducible CPU runs, e.g. resume == uninterrupted). ``val_set``
    is evaluated at the end and every ``eval_period`` iterations (0 = only at the end).
    """
    out_dir = Path(out_dir)
    device = _resolve_device(device)
    rank, world_size, main = du.get_rank(), du.get_world_size(), du.is_main_process()
    if cfg.batch_size % world_size:
        raise ValueError(f"batch_size {cfg.batch_size} is not divisible by the {world_size} processes")
    categories = [str(name) for name in train_set.categories]
    if len(categories) != cfg.num_classes:
        raise ValueError(
            f"the training set has {len(categories)} categories but cfg.num_classes = {cfg.num_classes}"
        )
    if sync_bn and (device.type != "cuda" or not du.is_distributed()):
        raise ValueError("sync_bn needs CUDA devices and a distributed run (torchrun)")

    if main and cfg.frozen_bn and not cfg.backbone_weights:
        warnings.warn(FROZEN_BN_FROM_SCRATCH.format(backbone=cfg.backbone), stacklevel=2)
    torch.manual_seed(seed)
    model: nn.Module = BlendMask(cfg).to(device)
    if sync_bn:
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    optimizer = build_optimizer(model, cfg)
    scheduler = build_scheduler(optimizer, cfg)
    autocast_dtype, use_scaler = amp_settings(device, amp)
    autocast = partial(torch.autocast, device.type, dtype=autocast_dtype) if autocast_dtype else nullcontext
    scaler = torch.amp.GradScaler("cuda", enabled=use_scaler)

    checkpoint_path = out_dir / CHECKPOINT_NAME
    if main:
        for stale in remove_stale_temporaries(checkpoint_path):
            print(f"removed {stale}, left by an interrupted checkpoint write", file=sys.stderr)
    start_iter = 0
    if resume and checkpoint_path.is_file():
        state = load_checkpoint(checkpoint_path)
        load_model_weights(model, state["model"], f"--resume {checkpoint_path}")
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        if state["scaler"]:
            scaler.load_state_dict(state["scaler"])
        set_rng_state(state["rng"])
        start_iter = int(state["iteration"])
        if main:
            print(f"resuming from {checkpoint_path} at iteration {start_iter}", file=sys.stderr)
    elif resume and main:
        print(f"no checkpoint at {checkpoint_path}; starting from iteration 0", file=sys.stderr)

    train_model = model
    if du.is_distributed():
        train_model = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None, find_unused_parameters=True
        )
    sampler = StreamSampler(
        train_set,
        batch_size=cfg.batch_size // world_size,
        seed=seed,
        rank=rank,
        world_size=world_size,
        start_iter=start_iter,
    )
    loader = DataLoader(
        SeededSamples(train_set, seed),
        batch_sampler=sampler,
        num_workers=workers,
        collate_fn=collate,
        pin_memory=device.type == "cuda",
        persistent_workers=workers > 0,
    )

    def snapshot(iteration: int) -> bytes:
        bad = non_finite_weights(model.state_dict())
        if bad:
            kept = f"the last good checkpoint is {saved}" if saved else "no checkpoint was written"
            raise NonFiniteLossError(
                f"non-finite weights after iteration {iteration} (e.g. {bad[0]}); training stopped, {kept}"
            )
        return checkpoint_bytes(
            {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "scaler": scaler.state_dict() if use_scaler else {},
                "iteration": iteration,
                "rng": rng_state(),
                "config": cfg.to_dict(),
                "categories": categories,
            }
        )

    if main:
        out_dir.mkdir(parents=True, exist_ok=True)
    writer = tensorboard_writer(out_dir) if main else None
    log = MetricsLog(out_dir / "metrics.jsonl", writer) if main else None
    bar = tqdm(
        total=cfg.max_iter,
        initial=start_iter,
        desc="train",
        disable=not (main and progress),
        dynamic_ncols=True,
    )
    saved: Path | None = checkpoint_path if start_iter > 0 else None
    pending: bytes | None = None  # a periodic checkpoint, written once its weights give a finite loss
    if main and start_iter == 0:
        (out_dir / "metrics.jsonl").unlink(missing_ok=True)
    iteration = start_iter
    interrupted = False
    metrics = None
    start_time = time.perf_counter()
    train_model.train()
    stop = _StopRequest()
    data_iter = iter(loader)
    previous = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
    )
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        with stop.installed():
            while iteration < cfg.max_iter:
                tick = time.perf_counter()
                images, targets = _to_device(*next(data_iter), device)
                data_time = time.perf_counter() - tick
                with autocast():
                    losses = train_model(images, targets)
                total = sum(losses.values())
                names = [*losses, "total_loss"]
                values = torch.stack(
                    [value.detach().float() for value in losses.values()] + [total.detach().float()]
                )
                flags = torch.tensor([float(stop.requested)], device=values.device)
                reduced = du.all_reduce_mean(torch.cat([values, flags]))
                values, stop_requested = reduced[:-1].tolist(), reduced[-1].item() > 0
                _check_finite(dict(zip(names, values, strict=True)), iteration + 1, saved)
                if pending is not None:
                    saved, pending = write_atomically(pending, checkpoint_path), None
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(total).backward()
                if cfg.grad_clip:
                    scaler.unscale_(optimizer)
                    nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                scaler.step(optimizer)
                scaler.update()
                lr = optimizer.param_groups[0]["lr"]
                scheduler.step()
                iteration += 1

                step_metrics = dict(zip(names, values, strict=True))
                bar.update(1)
                bar.set_postfix(
                    {name.removeprefix("loss_"): f"{value:.3f}" for name, value in step_metrics.items()}
                )
                if log is not None:
                    log.add(step_metrics, time=time.perf_counter() - tick, data_time=data_time)
                    if iteration % log_period == 0 or iteration == cfg.max_iter or stop_requested:
                        log.flush(iteration, lr)
                if main and (iteration == cfg.max_iter or stop_requested):
                    saved, pending = write_atomically(snapshot(iteration), checkpoint_path), None
                elif main and iteration % checkpoint_period == 0:
                    pending = snapshot(iteration)
                if stop_requested:
                    interrupted = True
                    break
                if (
                    val_set is not None
                    and eval_period
                    and iteration % eval_period == 0
                    and iteration < cfg.max_iter
                ):
                    _evaluate_and_log(model, val_set, device, iteration, log, out_dir=None)
    except KeyboardInterrupt:  # a second Ctrl-C: stop at once, keep the last checkpoint as it is
        interrupted = True
    finally:
        bar.close()
        torch.use_deterministic_algorithms(previous[0], warn_only=previous[1])
    seconds = time.perf_counter() - start_time
    if interrupted:
        if main:
            print(
                f"interrupted after iteration {iteration}; last checkpoint {saved}; continue with --resume",
                file=sys.stderr,
            )
    elif val_set is not None:
        metrics = _evaluate_and_log(model, val_set, device, iteration, log, out_dir=out_dir)
    if writer is not None:
        writer.close()
    du.barrier()
    model.eval()
    return TrainResult(
        model=model,
        iteration=iteration,
        checkpoint=saved if main else None,
        interrupted=interrupted,
        seconds=seconds,
        metrics=metrics,
    )


def _check_finite(values: dict[str, float], iteration: int, saved: Path | None) -> None:
    """Raise NonFiniteLossError naming the iteration and every NaN / infinite loss."""
    bad = {name: value for name, value in values.items() if not math.isfinite(value)}
    if bad:
        detail = ", ".join(f"{name}={value}" for name, value in bad.items())
        kept = f"the last good checkpoint is {saved}" if saved else "no checkpoint was written"
        raise NonFiniteLossError(
            f"non-finite loss at iteration {iteration}: {detail}; training stopped, {kept}"
        )


def _evaluate_and_log(model, val_set, device, iteration, log, *, out_dir) -> dict[str, Any] | None:
    """COCO-evaluate, the images sharded over the ranks (see ``evaluate``); rank 0 logs segm/bbox AP."""
    metrics = evaluate(model, val_set, device=device, out_dir=out_dir, progress=False)
    if du.is_main_process():
        record = {
            f"{kind}_{name}": value for kind in ("segm", "bbox") for name, value in metrics[kind].items()
        }
        log.write({"iter": iteration, **record})
    du.barrier()
    return metrics
