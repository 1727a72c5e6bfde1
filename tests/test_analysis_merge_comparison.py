"""The merge comparison (paper Table 1): variant configs, same-budget training with re-use, verdicts."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from blendmask.analysis.merge_comparison import (
    PAPER_TABLE1,
    VariantRun,
    describe_variants,
    format_runs,
    format_table1,
    mean_ap,
    merge_variant_configs,
    method_ordering,
    ordering_verdict,
    train_variants,
)
from blendmask.config import BlendMaskConfig
from blendmask.data import make_synthetic_coco
from blendmask.engine import coco_eval_set, coco_train_set

SIZE = 64


MERGE_FIELDS = {"bottom_resolution", "num_bases", "attn_size", "method", "top_interp"}


def base_config(**overrides) -> BlendMaskConfig:
    values = dict(
        num_classes=3,
        min_size_train=(SIZE,),
        max_size_train=SIZE,
        batch_size=2,
        max_iter=2,
        warmup_iters=1,
    )
    values.update(overrides)
    return BlendMaskConfig.from_preset("cpu_tiny", **values)


def test_variants_differ_only_in_the_merging():
    base = base_config()
    variants = merge_variant_configs(base)
    assert list(variants) == ["blender", "weighted_sum", "assembler"]
    got = {name: (c.bottom_resolution, c.num_bases, c.attn_size, c.method) for name, c in variants.items()}
    assert got == {
        "blender": (28, 4, 4, "blender"),
        "weighted_sum": (28, 4, 1, "weighted_sum"),
        "assembler": (28, 16, 4, "assembler"),
    }
    assert variants["assembler"].top_interp == "nearest"
    reference = {k: v for k, v in base.to_dict().items() if k not in MERGE_FIELDS}
    for cfg in variants.values():
        assert {k: v for k, v in cfg.to_dict().items() if k not in MERGE_FIELDS} == reference
    assert base.method == "blender" and base.rkm == "28_4_7", "the base config is left as it was"


def test_variants_follow_the_rkm_and_interpolation():
    variants = merge_variant_configs(base_config(), "56_4_7", top_interp="bilinear")
    assert variants["blender"].rkm == "56_4_7" and variants["blender"].top_interp == "bilinear"
    assert variants["weighted_sum"].rkm == "56_4_1"
    assert variants["assembler"].rkm == "56_49_7" and variants["assembler"].top_interp == "nearest"
    table = describe_variants(variants)
    assert "assembler" in table and "one-hot" in table and "learned" in table
    with pytest.raises(ValueError, match="R_K_M"):
        merge_variant_configs(base_config(), "28x4x4")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    synthetic = make_synthetic_coco(
        tmp_path_factory.mktemp("data"), num_train=6, num_val=2, image_size=SIZE, seed=1
    )
    train_set = coco_train_set(base_config(), synthetic.train_images, synthetic.train_ann)
    return train_set, coco_eval_set(synthetic.val_images, synthetic.val_ann)


def test_train_variants_trains_each_with_the_same_budget_and_reuses_finished_runs(
    data, tmp_path, one_torch_thread
):
    train_set, val_set = data
    variants = merge_variant_configs(base_config())
    runs = train_variants(variants, train_set, out_dir=tmp_path, val_set=val_set, seeds=(3,), progress=False)
    assert [(r.method, r.seed, r.reused) for r in runs] == [
        ("blender", 3, False),
        ("weighted_sum", 3, False),
        ("assembler", 3, False),
    ]
    for run in runs:
        assert run.checkpoint == tmp_path / run.method / "seed3" / "last.pt" and run.checkpoint.is_file()
        assert set(run.metrics["segm"]) >= {"AP", "AP50", "AP75"} and run.train_seconds > 0
        record = json.loads((run.checkpoint.parent / "run.json").read_text())
        assert record["config"]["max_iter"] == 2 and record["seed"] == 3
        assert Path(record["train_set"]["ann_file"]).is_absolute(), "the same data from any working directory"
    predictor = runs[2].predictor(device="cpu")
    assert predictor.cfg.method == "assembler" and predictor.cfg.num_bases == 16

    stamps = {r.method: r.checkpoint.stat().st_mtime_ns for r in runs}
    again = train_variants(variants, train_set, out_dir=tmp_path, val_set=val_set, seeds=(3,), progress=False)
    assert all(r.reused for r in again)
    assert [r.metrics for r in again] == [r.metrics for r in runs]
    assert {r.method: r.checkpoint.stat().st_mtime_ns for r in again} == stamps

    longer = {"blender": dataclasses.replace(variants["blender"], max_iter=3)}
    changed = train_variants(longer, train_set, out_dir=tmp_path, val_set=val_set, seeds=(3,), progress=False)
    assert not changed[0].reused, "a different schedule is a different run"


def test_train_variants_rejects_empty_input(data, tmp_path):
    train_set, val_set = data
    with pytest.raises(ValueError, match="config"):
        train_variants({}, train_set, out_dir=tmp_path, val_set=val_set)
    with pytest.raises(ValueError, match="seed"):
        train_variants(
            merge_variant_configs(base_config()), train_set, out_dir=tmp_path, val_set=val_set, seeds=()
        )


def fake_run(method: str, seed: int, ap: float) -> VariantRun:
    segm = {"AP": ap, "AP50": ap + 0.2, "AP75": ap - 0.05, "APs": None, "APm": ap, "APl": ap}
    return VariantRun(
        method=method,
        seed=seed,
        cfg=base_config(),
        checkpoint=Path("unused.pt"),
        metrics={"segm": segm, "bbox": dict(segm)},
        train_seconds=120.0,
        reused=False,
    )


def test_tables_and_verdict_when_the_paper_ordering_reproduces():
    runs = [
        fake_run("blender", 0, 0.40),
        fake_run("weighted_sum", 0, 0.30),
        fake_run("assembler", 0, 0.35),
        fake_run("blender", 1, 0.42),
        fake_run("weighted_sum", 1, 0.31),
        fake_run("assembler", 1, 0.33),
    ]
    assert mean_ap(runs) == pytest.approx({"blender": 41.0, "weighted_sum": 30.5, "assembler": 34.0})
    assert method_ordering(mean_ap(runs)) == ("blender", "assembler", "weighted_sum")
    table = format_table1(runs)
    blender_row = next(line for line in table.splitlines() if line.startswith("blender"))
    assert "40.0-42.0" in blender_row and "41.0" in blender_row and "31.6" in blender_row
    assert len(format_runs(runs).splitlines()) == 1 + len(runs)
    verdict = ordering_verdict(runs)
    assert "same ordering as the paper: yes" in verdict
    assert "every seed of the first beats every seed of the second" in verdict
    assert "mean of 2 seeds" in verdict


def test_verdict_when_the_ordering_does_not_reproduce():
    runs = [
        fake_run("blender", 0, 0.30),
        fake_run("weighted_sum", 0, 0.36),
        fake_run("assembler", 0, 0.31),
        fake_run("blender", 1, 0.34),
        fake_run("weighted_sum", 1, 0.37),
        fake_run("assembler", 1, 0.32),
    ]
    verdict = ordering_verdict(runs)
    assert "same ordering as the paper: no" in verdict
    assert "within the seed spread" in verdict  # blender 30/34 vs assembler 31/32
    assert "every seed of the second beats every seed of the first" in verdict  # assembler vs weighted sum
    single = ordering_verdict(runs[:3])
    assert "one seed" in single and "mean of 1 seed)" in single
    assert (
        PAPER_TABLE1["blender"]["AP"] > PAPER_TABLE1["assembler"]["AP"] > PAPER_TABLE1["weighted_sum"]["AP"]
    )


def test_verdict_shows_ties_and_does_not_call_them_an_ordering():
    runs = [fake_run("blender", 0, 0.3), fake_run("weighted_sum", 0, 0.3), fake_run("assembler", 0, 0.2)]
    verdict = ordering_verdict(runs)
    assert "blender 30.0 = weighted_sum 30.0 > assembler 20.0" in verdict
    assert "same ordering as the paper: no" in verdict
