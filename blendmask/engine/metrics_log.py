"""The training loop's metrics log: values averaged over a logging window, appended to
``metrics.jsonl`` and, when tensorboard is installed, written as TensorBoard scalars."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def tensorboard_writer(out_dir: Path):
    """A TensorBoard SummaryWriter on ``out_dir``, or None when tensorboard is not installed."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(log_dir=str(out_dir))


class MetricsLog:
    """Averages per-iteration values over a logging window and appends them to a JSON-lines file
    (and TensorBoard when a writer is given)."""

    def __init__(self, path: Path, writer) -> None:
        self.path = path
        self.writer = writer
        self.window: list[dict[str, float]] = []

    def add(self, values: dict[str, float], **timing: float) -> None:
        self.window.append({**values, **timing})

    def flush(self, iteration: int, lr: float) -> None:
        if not self.window:
            return
        means = {key: sum(entry[key] for entry in self.window) / len(self.window) for key in self.window[0]}
        self.window = []
        self.write({"iter": iteration, **means, "lr": lr})

    def write(self, record: dict[str, Any]) -> None:
        with self.path.open("a") as handle:
            handle.write(json.dumps(record) + "\n")
        if self.writer is not None:
            for key, value in record.items():
                if key != "iter" and isinstance(value, int | float):
                    self.writer.add_scalar(key, value, record["iter"])
