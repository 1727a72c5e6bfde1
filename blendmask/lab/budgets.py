"""Every work budget of the lab in one place, each in a smoke and a full size.

``BLENDMASK_SMOKE=1`` (``smoke_mode``) picks the smoke size: the notebook test suite runs every
notebook with it in minutes. The full sizes are what the committed notebooks and ``make bench`` ran.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..config import PRESETS
from .demo import DEMO_NUM_TRAIN, DEMO_NUM_VAL

SMOKE_ENV = "BLENDMASK_SMOKE"
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")


def smoke_mode(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the small-work switch ``BLENDMASK_SMOKE`` is on (1/true/yes/on; 0/false/no/off/unset = off)."""
    value = (os.environ if environ is None else environ).get(SMOKE_ENV, "").strip().lower()
    if value not in _TRUE + _FALSE:
        raise ValueError(f"environment variable {SMOKE_ENV}={value!r}: use 1 (small work) or 0")
    return value in _TRUE


@dataclass(frozen=True)
class NotebookBudget:
    """Data and schedule of the notebooks that train ``cpu_tiny`` (01, and 02/05 without its checkpoint)."""

    iters: int  # training iterations
    batch_size: int
    num_train: int  # synthetic training images (or the most COCO training images of a subset)
    num_val: int  # synthetic validation images (or the most COCO validation images)
    num_show: int  # images shown in galleries and widgets


@dataclass(frozen=True)
class MergeBudget:
    """Data size, schedule, seeds and probe effort of one run of the merge comparison (notebook 04)."""

    num_train: int  # synthetic training images
    num_val: int  # synthetic validation images
    max_iter: int  # training iterations per model, the same for every method (``BlendMaskConfig.with_iters``)
    seeds: tuple[int, ...]  # every method is trained once per seed
    probe_images: int  # validation images whose matched instances are probed
    oracle_steps: int  # Adam steps of each oracle-attention fit


NOTEBOOK_SMOKE = NotebookBudget(iters=8, batch_size=2, num_train=16, num_val=6, num_show=3)
NOTEBOOK_FULL = NotebookBudget(
    iters=PRESETS["cpu_tiny"]["max_iter"],
    batch_size=PRESETS["cpu_tiny"]["batch_size"],
    num_train=DEMO_NUM_TRAIN,
    num_val=DEMO_NUM_VAL,
    num_show=6,
)
MERGE_SMOKE = MergeBudget(num_train=16, num_val=4, max_iter=6, seeds=(0,), probe_images=2, oracle_steps=25)
MERGE_FULL = MergeBudget(
    num_train=400, num_val=100, max_iter=450, seeds=(0, 1), probe_images=12, oracle_steps=200
)
# keyword arguments of ``blendmask.analysis.speed.compare_speed``: ``make bench`` and a quick run
SPEED_FULL: dict[str, Any] = dict(size=512, detections=(10, 50, 100, 200), repeats=5)
SPEED_SMOKE: dict[str, Any] = dict(size=256, detections=(10, 50), repeats=1, maskrcnn_proposals=200)


def notebook_budget(smoke: bool | None = None) -> NotebookBudget:
    """``NOTEBOOK_SMOKE`` or ``NOTEBOOK_FULL``; ``smoke=None`` reads ``BLENDMASK_SMOKE``."""
    return NOTEBOOK_SMOKE if (smoke_mode() if smoke is None else smoke) else NOTEBOOK_FULL


def merge_budget(smoke: bool | None = None) -> MergeBudget:
    """``MERGE_SMOKE`` or ``MERGE_FULL``; ``smoke=None`` reads ``BLENDMASK_SMOKE``."""
    return MERGE_SMOKE if (smoke_mode() if smoke is None else smoke) else MERGE_FULL


def speed_budget(smoke: bool | None = None) -> dict[str, Any]:
    """``SPEED_SMOKE`` or ``SPEED_FULL`` (a copy); ``smoke=None`` reads ``BLENDMASK_SMOKE``."""
    return dict(SPEED_SMOKE if (smoke_mode() if smoke is None else smoke) else SPEED_FULL)
