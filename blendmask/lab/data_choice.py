"""The notebooks' choice of data: the embedded synthetic shapes or a COCO dataset, cut to a subset."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..data import make_subset, make_synthetic_coco

SPLITS = ("train", "val")
COCO_2017_LAYOUT = {
    "train_images": "train2017",
    "train_ann": "annotations/instances_train2017.json",
    "val_images": "val2017",
    "val_ann": "annotations/instances_val2017.json",
}
"""Where a COCO 2017 folder keeps its images and instance annotations, relative to the folder."""


@dataclass(frozen=True)
class NotebookData:
    """Both splits of the chosen data: image folders and the subsets' annotation files."""

    train_images: Path
    train_ann: Path
    val_images: Path
    val_ann: Path
    description: str  # "synthetic shapes" or "COCO subset of <where> (<categories>)"
    summaries: Mapping[str, Mapping[str, int]]  # per split: make_subset's counts of the written file

    def split(self, name: str) -> tuple[Path, Path]:
        """``(images folder, annotation file)`` of split ``name`` ("train" or "val")."""
        if name not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {name!r}")
        return getattr(self, f"{name}_images"), getattr(self, f"{name}_ann")

    def report(self) -> str:
        """One line per split: its images folder, annotation file and the subset's counts."""
        lines = [self.description]
        for name in SPLITS:
            images, ann = self.split(name)
            lines.append(
                f"{name:5} images {images}\n      annotations {ann}\n      {dict(self.summaries[name])}"
            )
        return "\n".join(lines)


def coco_paths(coco: str | Path | Mapping[str, str | Path]) -> dict[str, Path]:
    """The four paths of a COCO dataset: a folder in the COCO 2017 layout (``COCO_2017_LAYOUT``), or
    a mapping with ``train_images``, ``train_ann``, ``val_images`` and ``val_ann``."""
    if isinstance(coco, Mapping):
        missing = [key for key in COCO_2017_LAYOUT if key not in coco]
        if missing:
            raise ValueError(f"COCO paths miss {', '.join(missing)}")
        return {key: Path(coco[key]) for key in COCO_2017_LAYOUT}
    root = Path(coco)
    return {key: root / relative for key, relative in COCO_2017_LAYOUT.items()}


def choose_data(
    out_dir: str | Path,
    *,
    num_train: int,
    num_val: int,
    coco: str | Path | Mapping[str, str | Path] | None = None,
    categories: Sequence[str] | None = None,
    seed: int = 0,
) -> NotebookData:
    """The synthetic shapes (``coco=None``: ``num_train`` / ``num_val`` images written to
    ``out_dir/data``) or a COCO dataset (see ``coco_paths``); both splits then cut by ``make_subset``
    to ``categories`` (None: all) and at most ``num_train`` / ``num_val`` images, into
    ``out_dir/subset/{train,val}.json``."""
    out_dir = Path(out_dir)
    if coco is None:
        synthetic = make_synthetic_coco(out_dir / "data", num_train=num_train, num_val=num_val, seed=seed)
        sources = {
            "train": (synthetic.train_images, synthetic.train_ann),
            "val": (synthetic.val_images, synthetic.val_ann),
        }
        description = "synthetic shapes"
    else:
        paths = coco_paths(coco)
        sources = {name: (paths[f"{name}_images"], paths[f"{name}_ann"]) for name in SPLITS}
        where = coco if not isinstance(coco, Mapping) else paths["train_ann"].parent
        description = f"COCO subset of {where} ({', '.join(categories) if categories else 'all categories'})"
    limits = {"train": num_train, "val": num_val}
    fields: dict[str, Path] = {}
    summaries = {}
    for name, (images, ann) in sources.items():
        subset = out_dir / "subset" / f"{name}.json"
        summaries[name] = make_subset(ann, subset, categories=categories, max_images=limits[name], seed=seed)
        fields.update({f"{name}_images": Path(images), f"{name}_ann": subset})
    return NotebookData(description=description, summaries=summaries, **fields)
