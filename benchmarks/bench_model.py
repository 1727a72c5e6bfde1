"""Model cost: parameter counts, one-image inference at 512 px (cpu_tiny, R_50_1x), cpu_tiny training
seconds/iteration (batch 8, 128 px) and blender time for 10 / 100 / 200 detections (K=4, M=14, R=56).

Run as a script to print the numbers as JSON. Every timing is the median over ``repeats`` after a
warm-up, on the CPU with ``threads`` threads, as ``{"wall_s", "cpu_s"}``: wall-clock seconds and
process CPU seconds (all threads). On a shared machine the wall times are noisy; the CPU seconds
at one thread are the steadier number. Inference runs with the score threshold at 0 so that every
image carries the full 100 detections through blending and mask pasting.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable

import torch

from blendmask import BlendMask, BlendMaskConfig
from blendmask.engine.precision import cpu_has_fast_bf16
from blendmask.modeling.blender import blend


def _median_seconds(fn: Callable[[], object], repeats: int, warmup: int = 1) -> dict[str, float]:
    """Median wall and process-CPU seconds of ``fn()`` over ``repeats`` calls after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return {"wall_s": round(statistics.median(wall), 5), "cpu_s": round(statistics.median(cpu), 5)}


def _random_targets(num: int, size: int, generator: torch.Generator) -> list[dict]:
    targets = []
    for _ in range(num):
        xy = torch.rand(3, 2, generator=generator) * size * 0.6
        wh = torch.rand(3, 2, generator=generator) * size * 0.3 + 12
        boxes = torch.cat([xy, xy + wh], dim=1).clamp(max=size).round()
        masks = torch.zeros(3, size, size, dtype=torch.bool)
        for mask, (x0, y0, x1, y1) in zip(masks, boxes.int().tolist(), strict=True):
            mask[y0:y1, x0:x1] = True
        targets.append(dict(boxes=boxes, labels=torch.arange(3), masks=masks))
    return targets


def inference_seconds(cfg: BlendMaskConfig, size: int, repeats: int) -> dict[str, float]:
    """Seconds for one ``size`` x ``size`` image through the eval-mode model (100 detections)."""
    model = BlendMask(cfg).eval()
    image = torch.rand(3, size, size, generator=torch.Generator().manual_seed(0))
    return _median_seconds(lambda: model([image]), repeats)


def train_seconds(
    cfg: BlendMaskConfig, batch: int, size: int, repeats: int, *, bfloat16: bool = False
) -> dict[str, float]:
    """Seconds per training iteration (forward, backward, AdamW step) on random images; ``bfloat16``:
    under CPU bfloat16 autocast, as ``blendmask demo`` trains on CPUs with native bfloat16."""
    g = torch.Generator().manual_seed(0)
    model = BlendMask(cfg).train()
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, fused=True)
    images = [torch.rand(3, size, size, generator=g) for _ in range(batch)]
    targets = _random_targets(batch, size, g)

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bfloat16):
            loss = sum(model(images, targets).values())
        opt.zero_grad()
        loss.backward()
        opt.step()

    return _median_seconds(step, repeats, warmup=2)


def blend_seconds(num_dets: int, repeats: int, *, size: int = 512) -> dict[str, float]:
    """``blend`` for ``num_dets`` detections on the bases of one ``size`` px image (K=4, M=14, R=56)."""
    g = torch.Generator().manual_seed(num_dets)
    bases = torch.randn(1, 4, size // 4, size // 4, generator=g)
    xy = torch.rand(num_dets, 2, generator=g) * size * 0.7
    boxes = [torch.cat([xy, xy + torch.rand(num_dets, 2, generator=g) * size * 0.3 + 8], dim=1)]
    attentions = torch.randn(num_dets, 4, 14, 14, generator=g)
    return _median_seconds(lambda: blend(bases, boxes, attentions, resolution=56, stride=4), repeats)


def run(threads: int = 2, repeats: int = 5) -> dict:
    """Parameter counts and timings as a JSON-able dict."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    fast = dict(fcos_score_thresh=0.0)
    tiny = BlendMaskConfig.from_preset("cpu_tiny", num_classes=3, **fast)
    r50 = BlendMaskConfig.from_preset("R_50_1x", min_size_test=512, max_size_test=853, **fast)
    out: dict = {"threads": threads, "device": "cpu"}
    with torch.inference_mode():
        for name, cfg in (("cpu_tiny", tiny), ("R_50_1x", r50)):
            out[name] = {
                "params": sum(p.numel() for p in BlendMask(cfg).parameters()),
                "infer_512px": inference_seconds(cfg, 512, repeats),
            }
        out["blend_K4_M14_R56"] = {str(d): blend_seconds(d, repeats * 4) for d in (10, 100, 200)}
    out["cpu_tiny"]["train_batch8_128px_per_iter"] = train_seconds(tiny, 8, 128, repeats)
    out["cpu_native_bfloat16"] = cpu_has_fast_bf16()
    out["cpu_tiny"]["train_batch8_128px_per_iter_bf16_autocast"] = train_seconds(
        tiny, 8, 128, repeats, bfloat16=True
    )
    return out


if __name__ == "__main__":
    import sys

    print(json.dumps(run(threads=int(sys.argv[1]) if len(sys.argv) > 1 else 2), indent=2))
