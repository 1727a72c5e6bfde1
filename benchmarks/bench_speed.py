"""BlendMask R_50_1x against torchvision Mask R-CNN R50-FPN, side by side (``blendmask.analysis.speed``).

512 px, 2 threads, D in {10, 50, 100, 200} detections, medians of 5, float32 both, plus BlendMask's
fast path (``--precision auto``). Writes ``speed.png`` and ``speed_stages.png`` next to the JSON
(``outputs/`` by default). Environment: ``BLENDMASK_BENCH_FAST=1`` for a quick run (``SPEED_SMOKE``:
256 px, D in {10, 50}, 1 repeat, 200 Mask R-CNN proposals); ``BLENDMASK_BENCH_PRESET`` for another
preset; ``BLENDMASK_BENCH_REPEATS`` and
``BLENDMASK_BENCH_DETECTIONS`` (e.g. 10,100,200) override those settings.
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from blendmask.analysis.speed import compare_speed, summary_rows  # noqa: E402
from blendmask.lab.budgets import SPEED_FULL, SPEED_SMOKE  # noqa: E402
from viz.speed import speed_figure, stages_figure  # noqa: E402


def run(out_dir: str | Path = "outputs") -> dict:
    """Run the comparison, save its two figures in ``out_dir`` and return the result."""
    settings = dict(SPEED_SMOKE if os.environ.get("BLENDMASK_BENCH_FAST") == "1" else SPEED_FULL)
    if "BLENDMASK_BENCH_REPEATS" in os.environ:
        settings["repeats"] = int(os.environ["BLENDMASK_BENCH_REPEATS"])
    if "BLENDMASK_BENCH_DETECTIONS" in os.environ:
        settings["detections"] = tuple(int(d) for d in os.environ["BLENDMASK_BENCH_DETECTIONS"].split(","))
    preset = os.environ.get("BLENDMASK_BENCH_PRESET", "R_50_1x")
    result = compare_speed(preset, threads=2, progress=True, **settings)
    result["summary"] = summary_rows(result)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    largest = max(settings["detections"])
    for name, fig in (
        ("speed.png", speed_figure(result)),
        ("speed_stages.png", stages_figure(result, largest)),
    ):
        fig.savefig(out_dir / name, dpi=120)
        result.setdefault("figures", []).append(str(out_dir / name))
    return result
