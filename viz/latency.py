"""Time widget interactions: from setting a control's value to the updated picture, in the kernel.

Observers of ipywidgets run synchronously, so when ``control.value = x`` returns, the widget's
picture traitlets hold the new PNG; what remains (sending it to the browser) is not the kernel's cost.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from itertools import cycle, islice
from typing import Any


def time_steps(steps: Sequence[Callable[[], object]], repeats: int) -> dict[str, float]:
    """Run ``repeats`` steps, cycling through ``steps``; {"median_ms", "max_ms", "runs"}."""
    if not steps or repeats < 1:
        raise ValueError("time_steps needs at least one step and repeats >= 1")
    times = []
    for step in islice(cycle(steps), repeats):
        start = time.perf_counter()
        step()
        times.append(1000.0 * (time.perf_counter() - start))
    return {
        "median_ms": round(statistics.median(times), 2),
        "max_ms": round(max(times), 2),
        "runs": repeats,
    }


def setter(control: Any, value: Any) -> Callable[[], None]:
    """A step that sets ``control.value = value`` (what a user's change does in the kernel)."""

    def step() -> None:
        control.value = value

    return step


def time_interactions(
    interactions: Mapping[str, Sequence[Callable[[], object]]], repeats: int = 10
) -> dict[str, dict[str, float]]:
    """Per interaction name: ``time_steps`` of its steps (e.g. a toggle off, then on again)."""
    return {name: time_steps(steps, repeats) for name, steps in interactions.items()}
