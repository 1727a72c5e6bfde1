"""``blendmask demo``: synthetic data -> train ``cpu_tiny`` -> COCO evaluation -> overlays and Figures 1/3.

Everything lands in one folder (default ``outputs/demo``):
    data/                       the synthetic COCO-format dataset
    run/last.pt, metrics.jsonl  the checkpoint and the training curve
    metrics.json, coco_results.json
    overlays/*.png              predictions on validation images
    figure1_blending.png, figure3_bases.png
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..config import BlendMaskConfig
from ..data import collate, make_synthetic_coco
from ..engine.datasets import coco_eval_set, coco_train_set
from ..engine.evaluate import evaluate, format_metrics
from ..engine.inference import PRECISIONS
from ..engine.precision import amp_settings, cpu_has_fast_bf16
from ..engine.predict import Predictor
from ..engine.schedule import build_optimizer
from ..engine.train import train
from ..modeling.blendmask import BlendMask
from .render import write_figures, write_overlay

DEMO_ITERS = 800
DEMO_NUM_TRAIN = 400
DEMO_NUM_VAL = 100
DEMO_OVERRIDES: dict[str, Any] = {}  # changes to the cpu_tiny preset for the demo's budget
NUM_OVERLAYS = 4
OVERLAY_SCORE_THRESHOLD = 0.5


@dataclass
class DemoResult:
    """Where the demo's outputs are and what they say."""

    out_dir: Path
    cfg: BlendMaskConfig
    precision: str  # "bfloat16 autocast" or "float32"
    metrics: dict[str, Any]
    train_seconds: float
    total_seconds: float
    files: list[Path]


def seconds_per_iteration(
    cfg: BlendMaskConfig, train_set, *, device: torch.device, amp: bool, steps: int = 3
) -> float:
    """Median wall time of a training step (after one untimed step) on a fresh model and one batch."""
    torch.manual_seed(0)
    model = BlendMask(cfg).to(device).train()
    optimizer = build_optimizer(model, cfg)
    dtype, _ = amp_settings(device, amp)
    images, targets = collate([train_set[i % len(train_set)] for i in range(cfg.batch_size)])
    images = [image.to(device) for image in images]
    targets = [{k: v.to(device) if torch.is_tensor(v) else v for k, v in t.items()} for t in targets]
    times = []
    for _ in range(steps + 1):
        tick = time.perf_counter()
        with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            loss = sum(model(images, targets).values())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - tick)
    return sorted(times[1:])[steps // 2]


def run_demo(
    out_dir: str | Path = "outputs/demo",
    *,
    iters: int | None = None,
    minutes: float | None = None,
    num_train: int | None = None,
    num_val: int | None = None,
    device: str | None = None,
    workers: int = 0,
    seed: int = 0,
    precision: str = "auto",
    progress: bool = True,
) -> DemoResult:
    """Build the synthetic set, train ``cpu_tiny`` for ``iters`` iterations (default ``DEMO_ITERS``; with
    ``minutes``, as many as fit in that training time at the measured speed), evaluate on the
    validation split and render overlays and Figures 1 and 3 into ``out_dir``. The synthetic set has
    ``num_train`` / ``num_val`` images (default ``DEMO_NUM_TRAIN`` / ``DEMO_NUM_VAL``); ``seed`` fixes
    the data and the training. ``precision``: "auto" trains with bfloat16 autocast on CUDA and on CPUs
    that compute bfloat16 natively and in float32 elsewhere; "bfloat16" or "float32" forces one."""
    if iters is not None and minutes is not None:
        raise ValueError("give either iters or minutes, not both")
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    start = time.perf_counter()
    out_dir = Path(out_dir)
    device_ = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    native_bf16 = device_.type == "cuda" or cpu_has_fast_bf16()
    amp = precision == "bfloat16" or (precision == "auto" and native_bf16)
    data = make_synthetic_coco(
        out_dir / "data", num_train=num_train or DEMO_NUM_TRAIN, num_val=num_val or DEMO_NUM_VAL, seed=seed
    )
    cfg = BlendMaskConfig.from_preset("cpu_tiny", **DEMO_OVERRIDES)
    train_set = coco_train_set(cfg, data.train_images, data.train_ann)
    val_set = coco_eval_set(data.val_images, data.val_ann)
    names = list(train_set.categories)
    cfg = dataclasses.replace(cfg, num_classes=len(names), class_names=names)
    if minutes is not None:
        iters = max(1, int(minutes * 60 / seconds_per_iteration(cfg, train_set, device=device_, amp=amp)))
        print(f"{minutes:g} min of training at the measured speed: {iters} iterations")
    cfg = cfg.with_iters(iters or DEMO_ITERS)

    run = train(
        cfg,
        train_set,
        out_dir=out_dir / "run",
        device=device_,
        workers=workers,
        seed=seed,
        amp=amp,
        progress=progress,
    )
    if run.interrupted:
        raise KeyboardInterrupt
    metrics = evaluate(run.model, val_set, device=device_, out_dir=out_dir, progress=progress)
    files = [out_dir / "metrics.json", out_dir / "coco_results.json", run.checkpoint]
    files += _render(Predictor(run.checkpoint, device=device_), val_set, out_dir)
    return DemoResult(
        out_dir=out_dir,
        cfg=cfg,
        precision="bfloat16 autocast" if amp else "float32",
        metrics=metrics,
        train_seconds=run.seconds,
        total_seconds=time.perf_counter() - start,
        files=files,
    )


def _render(predictor: Predictor, val_set, out_dir: Path) -> list[Path]:
    """Overlays of the first validation images, and Figures 1 and 3 of the one with the top detection."""
    files, best = [], None
    for index in range(min(NUM_OVERLAYS, len(val_set))):
        image, target = val_set[index]
        prediction = predictor.predict(image)
        path = out_dir / "overlays" / f"val_{int(target['image_id']):06d}.png"
        files.append(
            write_overlay(
                image,
                prediction,
                path,
                class_names=predictor.categories,
                score_threshold=OVERLAY_SCORE_THRESHOLD,
            )
        )
        top = float(prediction.scores.max()) if len(prediction) else -1.0
        if best is None or top > best[0]:
            best = (top, image, prediction)
    if best is not None:
        files += write_figures(best[1], best[2], out_dir, class_names=predictor.categories)
    return files


def format_summary(result: DemoResult) -> str:
    """The demo's closing table: what was trained, how long it took, the AP reached, where the files are."""
    cfg, metrics = result.cfg, result.metrics
    segm, bbox = metrics["segm"], metrics["bbox"]
    lines = [
        "",
        f"BlendMask demo: cpu_tiny ({cfg.backbone}, R_K_M {cfg.rkm}, {cfg.method}) on synthetic shapes",
        f"  training    {cfg.max_iter} iterations, batch {cfg.batch_size}, {result.precision}: "
        f"{result.train_seconds / 60:.1f} min",
        f"  mask AP     {segm['AP']:.3f}   (AP50 {segm['AP50']:.3f}, AP75 {segm['AP75']:.3f})",
        f"  box AP      {bbox['AP']:.3f}   (AP50 {bbox['AP50']:.3f}, AP75 {bbox['AP75']:.3f})",
        f"  evaluated   {metrics['num_images']} validation images, {metrics['num_detections']} detections",
        f"  total time  {result.total_seconds / 60:.1f} min",
        "",
        format_metrics(metrics),
        "",
        f"outputs in {result.out_dir}/:",
        *(
            f"  {path.relative_to(result.out_dir) if path.is_relative_to(result.out_dir) else path}"
            for path in result.files
        ),
        "",
        "next: make lab   (notebooks: look inside the bases, attentions and the blender)",
    ]
    return "\n".join(lines)
