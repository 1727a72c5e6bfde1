"""The timing driver of ``make bench``'s widget latencies, and the caches it relies on."""

from __future__ import annotations

import pytest
from fakes import IMAGES, FakePredictor

from viz import MergeComparison
from viz.latency import setter, time_interactions, time_steps


class Control:
    def __init__(self) -> None:
        self.values: list = []

    @property
    def value(self):
        return self.values[-1]

    @value.setter
    def value(self, new) -> None:
        self.values.append(new)


def test_time_steps_cycles_through_the_steps_and_reports_ms():
    control = Control()
    report = time_steps([setter(control, 1), setter(control, 2)], repeats=5)
    assert control.values == [1, 2, 1, 2, 1]
    assert report["runs"] == 5 and 0 <= report["median_ms"] <= report["max_ms"]


def test_time_interactions_times_each_named_interaction():
    a, b = Control(), Control()
    report = time_interactions({"a": [setter(a, True)], "b": [setter(b, 0.5), setter(b, 1.0)]}, repeats=3)
    assert set(report) == {"a", "b"} and a.values == [True] * 3 and b.values == [0.5, 1.0, 0.5]


def test_time_steps_rejects_nothing_to_time():
    with pytest.raises(ValueError, match="at least one step"):
        time_steps([], repeats=3)


@pytest.mark.usefixtures("one_torch_thread")
def test_comparison_runs_each_model_once_per_image_whatever_the_controls():
    models = {"a": FakePredictor(), "b": FakePredictor(method="weighted_sum", attn_size=1)}
    view = MergeComparison(models, IMAGES, score_threshold=0.3)
    for threshold in (0.1, 0.5, 0.3):
        view.score_slider.value = threshold
    view.image_select.value = 1
    view.image_select.value = 0
    view.score_slider.value = 0.2
    assert [m.calls for m in models.values()] == [2, 2]
