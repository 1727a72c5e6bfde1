"""What one notebook leaves for the next: the settings of a run, the checkpoint and data paths
(``workspace.json``), and ``ensure_checkpoint``, which trains ``cpu_tiny`` on the synthetic set when
there is none yet."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from viz.plotly_views import use_offline_renderer

from ..config import BlendMaskConfig
from ..data import CocoInstances, make_synthetic_coco
from ..engine.datasets import coco_eval_set, coco_train_set
from ..engine.predict import Predictor
from ..engine.train import train
from .budgets import SMOKE_ENV, notebook_budget, smoke_mode
from .demo import DEMO_OVERRIDES


@dataclass(frozen=True)
class NotebookSettings:
    """The budget of a notebook run and where its outputs go."""

    smoke: bool
    out_dir: Path  # <output root>/smoke or <output root>/full
    iters: int  # training iterations
    batch_size: int
    num_train: int  # synthetic training images (or the most COCO training images of a subset)
    num_val: int  # synthetic validation images (or the most COCO validation images)
    num_show: int  # images shown in galleries and widgets

    @property
    def mode(self) -> str:
        return "smoke" if self.smoke else "full"

    def describe(self) -> str:
        """One line for the notebook's first output."""
        switch = f"{SMOKE_ENV}=1: small-work run" if self.smoke else "full run"
        return (
            f"{switch}; {self.iters} iterations of batch {self.batch_size}, {self.num_train} training / "
            f"{self.num_val} validation images; outputs in {self.out_dir}"
        )


def notebook_settings(
    output_root: str | Path, *, environ: Mapping[str, str] | None = None
) -> NotebookSettings:
    """Settings for the notebooks: the smoke budget under ``BLENDMASK_SMOKE=1``, else ``cpu_tiny``'s
    budget (500 iterations of batch 8) on the demo's 400 / 100 synthetic images. Outputs go to
    ``output_root/smoke`` or ``output_root/full``. Also switches plotly to its offline renderer
    (``viz.plotly_views.use_offline_renderer``)."""
    use_offline_renderer()
    smoke = smoke_mode(environ)
    budget = dataclasses.asdict(notebook_budget(smoke))
    return NotebookSettings(smoke=smoke, out_dir=Path(output_root) / ("smoke" if smoke else "full"), **budget)


def notebook_config(
    settings: NotebookSettings, categories: Sequence[str], *, preset: str = "cpu_tiny", **overrides: Any
) -> BlendMaskConfig:
    """``preset`` (with the demo's changes for ``cpu_tiny``) for ``categories``, batch
    ``settings.batch_size``, its schedule fitted to ``settings.iters`` (``BlendMaskConfig.with_iters``)."""
    values: dict[str, Any] = dict(DEMO_OVERRIDES) if preset == "cpu_tiny" else {}
    values.update(num_classes=len(categories), class_names=list(categories), batch_size=settings.batch_size)
    values.update(overrides)
    return BlendMaskConfig.from_preset(preset, **values).with_iters(settings.iters)


WORKSPACE_FILE = "workspace.json"
_PATH_FIELDS = ("checkpoint", "train_images", "train_ann", "val_images", "val_ann")


@dataclass(frozen=True)
class Workspace:
    """The checkpoint a notebook trained and the data it was trained and is evaluated on."""

    out_dir: Path
    checkpoint: Path
    train_images: Path
    train_ann: Path
    val_images: Path
    val_ann: Path
    categories: tuple[str, ...]
    iterations: int
    data: str  # "synthetic shapes" or a description of the COCO subset

    def save(self) -> Path:
        """Write ``out_dir/workspace.json`` (paths inside ``out_dir`` stored relative to it)."""
        record: dict[str, Any] = {
            "categories": list(self.categories),
            "iterations": self.iterations,
            "data": self.data,
        }
        for name in _PATH_FIELDS:
            path = Path(getattr(self, name)).resolve()
            root = Path(self.out_dir).resolve()
            record[name] = str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
        path = Path(self.out_dir) / WORKSPACE_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(record, indent=2) + "\n")
        return path

    @classmethod
    def load(cls, out_dir: str | Path) -> Workspace:
        """Read ``out_dir/workspace.json``; FileNotFoundError when absent, ValueError naming a bad field."""
        out_dir = Path(out_dir)
        path = out_dir / WORKSPACE_FILE
        if not path.is_file():
            raise FileNotFoundError(f"no workspace record at {path}")
        try:
            record = json.loads(path.read_text())
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}: malformed JSON ({error.msg}); delete it to retrain") from error
        missing = [k for k in (*_PATH_FIELDS, "categories", "iterations", "data") if k not in record]
        if missing:
            raise ValueError(f"{path}: missing field(s) {', '.join(missing)}; delete it to retrain")
        paths = {name: out_dir / record[name] for name in _PATH_FIELDS}  # absolute paths stay absolute
        return cls(
            out_dir=out_dir,
            categories=tuple(record["categories"]),
            iterations=int(record["iterations"]),
            data=str(record["data"]),
            **paths,
        )

    def val_set(self) -> CocoInstances:
        """The validation split at the original image size (as evaluated)."""
        return coco_eval_set(self.val_images, self.val_ann)

    def predictor(self, device: str | torch.device | None = None) -> Predictor:
        return Predictor(self.checkpoint, device=device)


def ensure_checkpoint(settings: NotebookSettings, *, seed: int = 0, progress: bool = True) -> Workspace:
    """The workspace in ``settings.out_dir`` when its checkpoint exists; otherwise build the synthetic
    set there, train ``cpu_tiny`` on it with the settings' budget and record the result."""
    try:
        workspace = Workspace.load(settings.out_dir)
    except FileNotFoundError:
        workspace = None
    if workspace is not None and workspace.checkpoint.is_file():
        return workspace
    print(
        f"no checkpoint in {settings.out_dir}: training cpu_tiny on synthetic shapes "
        f"({settings.iters} iterations)"
    )
    data = make_synthetic_coco(
        settings.out_dir / "data", num_train=settings.num_train, num_val=settings.num_val, seed=seed
    )
    train_set = coco_train_set(BlendMaskConfig.from_preset("cpu_tiny"), data.train_images, data.train_ann)
    cfg = notebook_config(settings, train_set.categories)
    run = train(cfg, train_set, out_dir=settings.out_dir / "run", seed=seed, progress=progress)
    if run.interrupted:
        raise KeyboardInterrupt("training interrupted; run the cell again to train from scratch")
    workspace = Workspace(
        out_dir=settings.out_dir,
        checkpoint=run.checkpoint,
        train_images=data.train_images,
        train_ann=data.train_ann,
        val_images=data.val_images,
        val_ann=data.val_ann,
        categories=tuple(train_set.categories),
        iterations=run.iteration,
        data="synthetic shapes",
    )
    workspace.save()
    return workspace
