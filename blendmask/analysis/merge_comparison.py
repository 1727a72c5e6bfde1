"""The paper's Table 1 experiment: blender vs weighted sum (YOLACT) vs assembler (FCIS) at one R_K_M.

``merge_variant_configs`` derives the three models from one base config so that only the merging
differs; ``train_variants`` trains each with the same budget and seeds (re-using finished runs found
in ``out_dir``); ``format_runs`` / ``format_table1`` / ``ordering_verdict`` put the COCO mask AP next
to the paper's numbers; ``match_to_ground_truth`` / ``summarize_probes`` serve the oracle-attention
probes (how much of the ground-truth masks the learned bases can express at each attention size M).
"""

from __future__ import annotations

import dataclasses
import json
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..config import BlendMaskConfig, parse_rkm
from ..engine.predict import Predictor
from ..engine.train import train

PAPER_TABLE1_RKM = "28_4_4"
PAPER_TABLE1: dict[str, dict[str, float]] = {
    "weighted_sum": {"AP": 29.7, "AP50": 52.2, "AP75": 30.1},
    "assembler": {"AP": 30.3, "AP50": 52.5, "AP75": 31.3},
    "blender": {"AP": 31.6, "AP50": 53.4, "AP75": 33.3},
}
"""Paper Table 1: COCO val2017 mask AP in percent, R-50 1x schedule, model 28_4_4."""

TABLE_METRICS = ("AP", "AP50", "AP75")
RUN_RECORD = "run.json"


def merge_variant_configs(
    base_cfg: BlendMaskConfig, rkm: str = PAPER_TABLE1_RKM, *, top_interp: str = "nearest"
) -> dict[str, BlendMaskConfig]:
    """The three models of Table 1 from one base config; every other field stays the base's.

    ``rkm`` "R_K_M" sets the blender (R, K, M). ``weighted_sum`` is that blender with M = 1;
    ``assembler`` has K = M*M bases, fixed one-hot tiles and nearest top interpolation (no learned
    attention). ``top_interp`` is the blender's attention interpolation: the paper's Table 1/2
    ablations use nearest (its 28_4_4 blender, 31.6 AP, is a row of Table 2).
    """
    r, k, m = (parse_rkm(rkm)[key] for key in ("bottom_resolution", "num_bases", "attn_size"))
    blender = dataclasses.replace(
        base_cfg, bottom_resolution=r, num_bases=k, attn_size=m, method="blender", top_interp=top_interp
    )
    return {
        "blender": blender,
        "weighted_sum": dataclasses.replace(blender, attn_size=1, method="weighted_sum"),
        "assembler": dataclasses.replace(blender, num_bases=m * m, method="assembler", top_interp="nearest"),
    }


def describe_variants(configs: Mapping[str, BlendMaskConfig]) -> str:
    """A text table of what differs between the variants: R, K, M, method, attention and its size."""
    lines = [
        f"{'model':13}{'R':>4}{'K':>4}{'M':>4}  {'method':13}{'attention':11}{'top interp':12}top outputs"
    ]
    for name, cfg in configs.items():
        learned = cfg.method != "assembler"
        outputs = f"K*M*M = {cfg.num_bases * cfg.attn_size**2}" if learned else "none"
        lines.append(
            f"{name:13}{cfg.bottom_resolution:>4}{cfg.num_bases:>4}{cfg.attn_size:>4}  {cfg.method:13}"
            f"{'learned' if learned else 'one-hot':11}{cfg.top_interp:12}{outputs}"
        )
    return "\n".join(lines)


@dataclass(frozen=True)
class VariantRun:
    """One trained model of the comparison."""

    method: str  # key of the configs dict, e.g. "blender"
    seed: int
    cfg: BlendMaskConfig
    checkpoint: Path
    metrics: dict[str, Any]  # evaluate()'s dict: segm/bbox AP etc. as fractions
    train_seconds: float
    reused: bool  # True when loaded from an earlier identical run instead of trained

    def predictor(self, device: str | torch.device | None = None) -> Predictor:
        """The trained model behind a ``Predictor`` (intermediates on)."""
        return Predictor(self.checkpoint, device=device)


def _dataset_key(dataset) -> dict[str, Any]:
    ann_file = getattr(dataset, "ann_file", None)
    return {"ann_file": None if ann_file is None else str(Path(ann_file).resolve()), "size": len(dataset)}


def _load_finished(run_dir: Path, record: dict[str, Any]) -> dict[str, Any] | None:
    """The stored run record when ``run_dir`` holds a finished run of exactly this setting."""
    path = run_dir / RUN_RECORD
    if not path.is_file():
        return None
    stored = json.loads(path.read_text())
    same = all(stored.get(key) == value for key, value in record.items())
    if not same or not (run_dir / stored.get("checkpoint", "")).is_file():
        return None
    return stored


def train_variants(
    configs: Mapping[str, BlendMaskConfig],
    train_set,
    *,
    out_dir: str | Path,
    val_set,
    seeds: Sequence[int] = (0,),
    device: str | torch.device | None = None,
    retrain: bool = False,
    progress: bool = True,
    **train_kwargs: Any,
) -> list[VariantRun]:
    """Train and COCO-evaluate every config once per seed, seed by seed, into ``out_dir/<name>/seed<s>/``.

    Every run gets the same data, schedule (each config's own ``max_iter``, ``batch_size``, ...) and
    seed. A folder whose ``run.json`` records the same config, seed and datasets (annotation file and
    size) is re-used (``reused=True``) unless ``retrain``; the record does not cover the code, so
    retrain after changing the model. ``train_kwargs`` go to ``engine.train``.
    """
    if not configs:
        raise ValueError("train_variants needs at least one config")
    if not seeds:
        raise ValueError("train_variants needs at least one seed")
    out_dir = Path(out_dir)
    runs = []
    for seed in seeds:
        for name, cfg in configs.items():
            run_dir = out_dir / name / f"seed{seed}"
            record = {
                "method": name,
                "seed": int(seed),
                "config": cfg.to_dict(),
                "train_set": _dataset_key(train_set),
                "val_set": _dataset_key(val_set),
            }
            stored = None if retrain else _load_finished(run_dir, record)
            reused = stored is not None
            if stored is None:
                if progress:
                    print(f"training {name} (seed {seed}): {cfg.rkm}, {cfg.max_iter} iterations")
                result = train(
                    cfg,
                    train_set,
                    out_dir=run_dir,
                    val_set=val_set,
                    device=device,
                    seed=seed,
                    progress=progress,
                    **train_kwargs,
                )
                if result.interrupted or result.metrics is None:
                    raise KeyboardInterrupt(f"training of {name} (seed {seed}) was interrupted")
                stored = {
                    **record,
                    "checkpoint": result.checkpoint.name,
                    "metrics": result.metrics,
                    "train_seconds": result.seconds,
                }
                (run_dir / RUN_RECORD).write_text(json.dumps(stored, indent=1) + "\n")
            elif progress:
                print(f"re-using {name} (seed {seed}) from {run_dir}")
            runs.append(
                VariantRun(
                    method=name,
                    seed=int(seed),
                    cfg=cfg,
                    checkpoint=run_dir / stored["checkpoint"],
                    metrics=stored["metrics"],
                    train_seconds=float(stored["train_seconds"]),
                    reused=reused,
                )
            )
    return runs


def _percent(value: float | None) -> float | None:
    return None if value is None else 100.0 * value


def mean_ap(runs: Iterable[VariantRun], metric: str = "AP", iou_type: str = "segm") -> dict[str, float]:
    """Mean over seeds of one metric (percent) per method, in first-seen order."""
    values: dict[str, list[float]] = {}
    for run in runs:
        value = run.metrics[iou_type][metric]
        values.setdefault(run.method, []).append(100.0 * (value or 0.0))
    return {method: statistics.fmean(v) for method, v in values.items()}


def format_runs(runs: Sequence[VariantRun]) -> str:
    """One line per (method, seed): mask AP, AP50, AP75, APs/m/l and box AP in percent, training time."""
    names = ("AP", "AP50", "AP75", "APs", "APm", "APl")
    lines = [f"{'model':13}{'seed':>5}" + "".join(f"{n:>7}" for n in names) + f"{'box AP':>8}{'train':>9}"]
    for run in runs:
        segm = run.metrics["segm"]
        cells = "".join(_cell(_percent(segm[n]), 7) for n in names)
        lines.append(
            f"{run.method:13}{run.seed:>5}{cells}{_cell(_percent(run.metrics['bbox']['AP']), 8)}"
            f"{run.train_seconds / 60:>7.1f} m"
        )
    return "\n".join(lines)


def _cell(value: float | None, width: int) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:>{width}.1f}"


def format_table1(runs: Sequence[VariantRun], paper: Mapping[str, Mapping[str, float]] = PAPER_TABLE1) -> str:
    """Paper Table 1 layout: per method the mean mask AP / AP50 / AP75 over seeds (with the min-max
    range of AP when there are several seeds) next to the paper's COCO numbers."""
    means = {metric: mean_ap(runs, metric) for metric in TABLE_METRICS}
    per_seed: dict[str, list[float]] = {}
    for run in runs:
        per_seed.setdefault(run.method, []).append(100.0 * (run.metrics["segm"]["AP"] or 0.0))
    head = "".join(f"{m:>7}" for m in TABLE_METRICS)
    lines = [
        f"{'':13}{'':6}{'here (mean over seeds)':>34}   | paper, COCO",
        f"{'model':13}{'seeds':>6}{'AP range':>13}{head} |{head}",
    ]
    for method, seeds_ap in per_seed.items():
        spread = f"{min(seeds_ap):.1f}-{max(seeds_ap):.1f}" if len(seeds_ap) > 1 else ""
        here = "".join(_cell(means[m][method], 7) for m in TABLE_METRICS)
        theirs = "".join(_cell(paper.get(method, {}).get(m), 7) for m in TABLE_METRICS)
        lines.append(f"{method:13}{len(seeds_ap):>6}{spread:>13}{here} |{theirs}")
    return "\n".join(lines)


def method_ordering(scores: Mapping[str, float]) -> tuple[str, ...]:
    """Methods from best to worst score."""
    return tuple(sorted(scores, key=lambda name: -scores[name]))


def ordering_verdict(
    runs: Sequence[VariantRun], paper: Mapping[str, Mapping[str, float]] = PAPER_TABLE1
) -> str:
    """Plain-language comparison of the mask-AP ordering here with the paper's, pair by pair, saying
    whether each gap is larger than the spread over seeds (every seed of one beats every seed of
    the other) or within it."""
    per_seed: dict[str, list[float]] = {}
    for run in runs:
        per_seed.setdefault(run.method, []).append(100.0 * (run.metrics["segm"]["AP"] or 0.0))
    here = {method: statistics.fmean(values) for method, values in per_seed.items()}
    theirs = {method: values["AP"] for method, values in paper.items() if method in here}
    order_here, order_paper = method_ordering(here), method_ordering(theirs)
    num_seeds = min(len(values) for values in per_seed.values())
    shown = {method: round(value, 1) for method, value in here.items()}  # AP as printed, 0.1 apart or tied
    plural = "s" if num_seeds > 1 else ""
    same = all(shown[a] > shown[b] for a, b in zip(order_paper, order_paper[1:], strict=False))
    lines = [
        f"here:  {_chain(here, order_here)}  (mask AP, mean of {num_seeds} seed{plural})",
        f"paper: {_chain(theirs, order_paper)}  (COCO val2017)",
        f"same ordering as the paper: {'yes' if same else 'no'}",
    ]
    for better, worse in zip(order_paper, order_paper[1:], strict=False):
        gap = here[better] - here[worse]
        if num_seeds < 2:
            note = "one seed: no spread to compare with"
        elif min(per_seed[better]) > max(per_seed[worse]):
            note = "every seed of the first beats every seed of the second"
        elif max(per_seed[better]) < min(per_seed[worse]):
            note = "every seed of the second beats every seed of the first"
        else:
            note = "within the seed spread"
        paper_gap = theirs[better] - theirs[worse]
        lines.append(f"  {better} - {worse}: {gap:+.1f} AP here, {paper_gap:+.1f} in the paper ({note})")
    return "\n".join(lines)


def _chain(scores: Mapping[str, float], order: Sequence[str]) -> str:
    """ "a 31.6 > b 30.3 = c 30.3": methods in ``order`` with their scores at 0.1 precision."""
    text = f"{order[0]} {scores[order[0]]:.1f}"
    for previous, method in zip(order, order[1:], strict=False):
        tied = round(scores[previous], 1) == round(scores[method], 1)
        text += f" {'=' if tied else '>'} {method} {scores[method]:.1f}"
    return text


def ap_table(runs: Iterable[VariantRun]) -> dict[str, dict[str, float]]:
    """Per method, the mean over seeds (percent) of mask AP, mask AP50 and box AP (``mean_ap``)."""
    runs = list(runs)
    columns = {
        "mask AP": mean_ap(runs),
        "mask AP50": mean_ap(runs, "AP50"),
        "box AP": mean_ap(runs, iou_type="bbox"),
    }
    return {
        method: {name: values[method] for name, values in columns.items()} for method in columns["mask AP"]
    }
