"""Side-by-side speed measurement (blendmask.analysis.speed) on a tiny config and a few detections."""

from __future__ import annotations

import pytest
import torch

from blendmask.analysis.speed import (
    BLENDMASK_STAGES,
    MASKRCNN_STAGES,
    StageClock,
    blendmask_stages,
    build_blendmask,
    compare_speed,
    summary_rows,
)
from viz.speed import speed_figure, stages_figure


@pytest.fixture(scope="module")
def result():
    return compare_speed(
        "cpu_tiny",
        size=64,
        detections=(4,),
        repeats=1,
        threads=None,
        fast_precision="bfloat16",
        maskrcnn_proposals=20,
    )


def test_every_model_times_every_stage_at_forced_detections(result):
    assert set(result["models"]) == {"blendmask", "blendmask_fast", "maskrcnn"}
    for name, runs in result["models"].items():
        stages = MASKRCNN_STAGES if name == "maskrcnn" else BLENDMASK_STAGES
        for d in (4,):
            run = runs[str(d)]
            assert run["detections"] == d
            assert tuple(run["stages"]) == stages
            assert run["end_to_end"]["wall_s"] > 0 and run["end_to_end"]["cpu_s"] > 0
            assert run["stage_sum_wall_s"] == pytest.approx(
                sum(s["wall_s"] for s in run["stages"].values()), abs=1e-4
            )


def test_ratios_and_summary_come_from_the_timings(result):
    rows = summary_rows(result)
    assert [row["D"] for row in rows] == [4]
    for row in rows:
        assert row["ratio"] == pytest.approx(row["blendmask_s"] / row["maskrcnn_s"], rel=0.01, abs=1e-3)
        assert row["blendmask_fast_s"] > 0
    assert result["settings"]["fast_precision"] == "bfloat16"


def test_staged_blendmask_matches_the_model_detections():
    torch.manual_seed(0)
    model = build_blendmask("cpu_tiny", 5, size=64)
    image = torch.rand(3, 64, 64)
    with torch.inference_mode():
        count = blendmask_stages(model, image, StageClock(torch.device("cpu")))
        assert count == len(model([image])[0]["boxes"]) == 5


def test_figures_have_a_line_and_a_bar_row_per_model(result):
    fig = speed_figure(result)
    assert [len(ax.lines) for ax in fig.axes] == [3, 3]
    bars = stages_figure(result, 4)
    assert len(bars.axes[0].get_yticklabels()) == 3
