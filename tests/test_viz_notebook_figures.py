"""The notebooks' figures: Table 1 bars, the variants' losses, the side-by-side grid, the oracle
plot, the basis figures, the galleries and the plotly AP and IoU views."""

from __future__ import annotations

import json

import pytest
import torch
from fakes import make_image, make_prediction
from matplotlib.figure import Figure

from blendmask.analysis import FALSE_POSITIVE, MATCH, MISS, AttentionTemplate, BasisSemantics, InstanceMatch
from blendmask.analysis.merge_comparison import VariantRun
from blendmask.config import BlendMaskConfig
from viz import (
    METHOD_COLORS,
    attention_template_figure,
    basis_semantics_figure,
    inspection_gallery,
    match_title,
    merge_grid_figure,
    oracle_figure,
    photos_figure,
    plotly_category_ap,
    plotly_iou_histogram,
    samples_figure,
    table1_figure,
    variant_losses_figure,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _run(tmp_path, method: str, seed: int, ap: float) -> VariantRun:
    run_dir = tmp_path / method / f"seed{seed}"
    run_dir.mkdir(parents=True)
    records = [{"iter": i, "loss_mask": ap / i, "total_loss": 2 * ap / i} for i in (1, 2, 3)]
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    metrics = {"segm": {"AP": ap}, "bbox": {"AP": ap}}
    return VariantRun(method, seed, None, run_dir / "last.pt", metrics, 0.0, False)


@pytest.fixture
def runs(tmp_path):
    return [_run(tmp_path, m, s, ap) for s in (0, 1) for m, ap in (("weighted_sum", 0.2), ("blender", 0.3))]


def test_table1_figure_orders_methods_and_shows_every_seed(runs):
    fig = table1_figure(runs)
    here, paper = fig.axes
    assert [t.get_text() for t in here.get_xticklabels()] == ["blender", "weighted_sum"]
    assert [round(bar.get_height(), 6) for bar in here.patches] == [30.0, 20.0]
    assert sum(len(c.get_offsets()) for c in here.collections) == 4, "one dot per run"
    assert [bar.get_facecolor()[:3] for bar in paper.patches][0] != [
        bar.get_facecolor()[:3] for bar in paper.patches
    ][1]


def test_variant_losses_draw_one_line_per_run_dashed_after_the_first_seed(runs):
    mask_ax, total_ax = variant_losses_figure(runs).axes
    assert len(mask_ax.lines) == len(total_ax.lines) == 4
    assert [line.get_linestyle() for line in mask_ax.lines] == ["-", "-", "--", "--"]
    assert list(mask_ax.lines[1].get_ydata()) == pytest.approx([0.3, 0.15, 0.1])


def test_merge_grid_adds_an_attention_column_for_the_blender():
    images = [make_image(seed=i) for i in range(2)]
    found = {
        "blender": [make_prediction(seed=i) for i in range(2)],
        "assembler": [make_prediction(method="assembler", attn_size=2, seed=i) for i in range(2)],
    }
    targets = [{k: p[k] for k in ("boxes", "labels", "masks")} for p in found["blender"]]
    fig = merge_grid_figure(images, targets, found, rows=5)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["ground truth", "blender", "blender attention", "assembler"]
    assert len(fig.axes) == 2 * 4, "rows are capped at the number of images"


def test_oracle_figure_puts_each_prediction_at_its_own_attention_size():
    configs = {
        "blender": BlendMaskConfig(attn_size=4),
        "weighted_sum": BlendMaskConfig(attn_size=1),
        "assembler": BlendMaskConfig(attn_size=4),
    }
    summary = {
        "blender": {"n": 2, "predicted": 0.7, "M=1": 0.5, "M=4": 0.9},
        "weighted_sum": {"n": 2, "predicted": 0.6, "M=1": 0.6, "M=4": 0.8},
        "assembler": {"n": 0},
    }
    ax = oracle_figure(summary, configs).axes[0]
    assert len(ax.lines) == 2, "a model without instances is left out"
    stars = [tuple(c.get_offsets()[0]) for c in ax.collections]
    assert stars == [(4.0, 0.7), (1.0, 0.6)]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "4"]
    assert ax.lines[0].get_color() == METHOD_COLORS["blender"]


@pytest.mark.parametrize("resolution", [14, 28])
def test_basis_semantics_figure_labels_the_box_sides_at_its_resolution(resolution):
    k = 3
    semantics = BasisSemantics(
        foreground=torch.tensor([0.5, -0.4, 0.0]),
        border=torch.zeros(k),
        position=torch.tensor([0.0, 0.0, 0.6]),
        direction=torch.tensor([[1.0, 0.0]] * k),
        class_selectivity=torch.zeros(k),
        mean_in_box=torch.randn(k, resolution, resolution),
        num_images=1,
        num_instances=2,
    )
    axes = basis_semantics_figure(semantics).axes
    assert len(axes) == k
    assert list(axes[0].get_xticks()) == [0, resolution - 1]
    assert axes[0].get_title() == "basis 1\non objects" and axes[1].get_title() == "basis 2\noff objects"


def test_attention_template_figure_has_the_mixture_and_every_basis():
    template = AttentionTemplate(mean=torch.rand(4, 8, 8).softmax(0), template_share=0.9, num_detections=5)
    axes = attention_template_figure(template).axes
    assert [ax.get_title() for ax in axes] == ["average attention mix"] + [
        f"average $s^{{{k}}}$" for k in range(1, 5)
    ]


class _Dataset:
    categories = ["a", "b", "c"]

    def __init__(self, items):
        self.items = items

    def __len__(self):
        return len(self.items)

    def __getitem__(self, index):
        return self.items[index]


def test_samples_figure_names_each_image_and_its_instances():
    prediction = make_prediction()
    target = {k: prediction[k] for k in ("boxes", "labels", "masks")} | {"image_id": 7}
    fig = samples_figure(_Dataset([(make_image(), target)] * 2), 5, title="samples")
    assert [ax.get_title() for ax in fig.axes] == ["image 7: 3 instances"] * 2
    assert fig._suptitle.get_text() == "samples"


def test_match_titles_say_what_happened():
    match = InstanceMatch(0, 4, MATCH, "cat", 0.81, 0.9, 0, 0)
    assert match_title(match) == "cat, IoU 0.81, score 0.90 (image 4)"
    assert match_title(InstanceMatch(0, 4, MISS, "cat", 0.0, None, 0, None)) == "missed cat: nothing near"
    assert (
        match_title(InstanceMatch(0, 4, MISS, "cat", 0.3, 0.5, 0, 1, "dog"))
        == "missed cat: nearest dog, IoU 0.30"
    )
    fp = InstanceMatch(0, 4, FALSE_POSITIVE, "dog", 0.0, 0.7, None, 1)
    assert match_title(fp) == "dog 0.70 on background"


class _Inspection:
    categories = ["a", "b", "c"]

    def pair(self, match, *, min_size):
        prediction = make_prediction(num_dets=1)
        target = {k: prediction[k] for k in ("boxes", "labels", "masks")}
        return make_image(), target, prediction


def test_inspection_gallery_lays_out_the_pairs_or_returns_none():
    assert inspection_gallery(_Inspection(), []) is None
    matches = [InstanceMatch(0, i, MATCH, "a", 0.5, 0.9, 0, 0) for i in range(3)]
    fig = inspection_gallery(_Inspection(), matches, columns=2)
    assert isinstance(fig, Figure) and len(fig.axes) == 4
    assert [ax.get_title() for ax in fig.axes][:3] == [match_title(m) for m in matches]


def test_photos_figure_counts_the_classes_above_the_threshold():
    prediction = make_prediction()  # labels 0, 1, 2; scores 0.95, 0.65, 0.35
    fig = photos_figure(
        {"cat": make_image()}, {"cat": prediction}, class_names=["x", "y", "z"], score_threshold=0.5
    )
    assert fig.axes[0].get_title() == "cat: x × 1, y × 1"
    fig = photos_figure(
        {"cat": make_image()}, {"cat": prediction}, class_names=["x", "y", "z"], score_threshold=0.99
    )
    assert fig.axes[0].get_title() == "cat: nothing"


def test_plotly_category_ap_and_iou_histogram():
    figure = plotly_category_ap(
        {"per_category": {"a": {"segm": 0.5, "bbox": None}, "b": {"segm": 0.25, "bbox": 0.75}}}
    )
    assert [trace.name for trace in figure.data] == ["segm AP", "bbox AP"]
    assert list(figure.data[0].y) == [50.0, 25.0] and list(figure.data[1].y) == [0, 75.0]
    histogram = plotly_iou_histogram([0.1, 0.92, 0.95])
    assert list(histogram.data[0].x) == [0.1, 0.92, 0.95] and "3 matches" in histogram.layout.title.text
