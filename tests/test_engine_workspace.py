"""The notebooks' workspace: the small-work switch, the shared checkpoint, §3.4 basis measures and
instance-level matching of predictions to ground truth."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from blendmask import BlendMaskConfig
from blendmask.analysis import bases, inspect_predictions, matching
from blendmask.data import make_synthetic_coco
from blendmask.data.photos import PHOTOS, resize_for_model, sample_photos
from blendmask.engine import coco_eval_set, load_checkpoint
from blendmask.lab import budgets, workspace
from blendmask.lab.demo import DEMO_NUM_TRAIN
from blendmask.structures import BlendSettings, Prediction


def _settings(**changes) -> BlendSettings:
    """Blend settings of a blender with R = 8, stride 4, M = 2, with ``changes``."""
    values = dict(
        resolution=8, stride=4, method="blender", attn_size=2, pooler="bilinear", top_interp="bilinear"
    )
    return BlendSettings(**{**values, **changes})


def _with_intermediates(scores, **intermediates) -> Prediction:
    """A prediction with the given scores (empty boxes, labels 0, 1 x 1 masks) and intermediates."""
    count = len(scores)
    return Prediction(
        boxes=torch.zeros(count, 4),
        scores=scores,
        labels=torch.zeros(count, dtype=torch.int64),
        masks=torch.zeros(count, 1, 1, dtype=torch.bool),
        **intermediates,
    )


def test_smoke_switch_parses_and_rejects_unknown_values():
    assert budgets.smoke_mode({"BLENDMASK_SMOKE": "1"}) is True
    assert budgets.smoke_mode({"BLENDMASK_SMOKE": "yes"}) is True
    assert budgets.smoke_mode({"BLENDMASK_SMOKE": "0"}) is False
    assert budgets.smoke_mode({}) is False
    with pytest.raises(ValueError, match="BLENDMASK_SMOKE"):
        budgets.smoke_mode({"BLENDMASK_SMOKE": "maybe"})


def test_smoke_and_full_settings_never_share_a_folder(tmp_path):
    smoke = workspace.notebook_settings(tmp_path, environ={"BLENDMASK_SMOKE": "1"})
    full = workspace.notebook_settings(tmp_path, environ={})
    assert smoke.out_dir == tmp_path / "smoke" and full.out_dir == tmp_path / "full"
    assert (smoke.mode, full.mode) == ("smoke", "full")
    assert full.iters == BlendMaskConfig.from_preset("cpu_tiny").max_iter and full.num_train == DEMO_NUM_TRAIN
    assert smoke.iters < full.iters and smoke.num_train < full.num_train
    assert "BLENDMASK_SMOKE=1" in smoke.describe() and str(full.out_dir) in full.describe()


def test_notebook_config_carries_the_budget_and_classes(tmp_path):
    settings = workspace.notebook_settings(tmp_path, environ={"BLENDMASK_SMOKE": "1"})
    cfg = workspace.notebook_config(settings, ["a", "b"])
    assert (cfg.max_iter, cfg.batch_size) == (settings.iters, settings.batch_size)
    assert (cfg.num_classes, cfg.class_names) == (2, ["a", "b"])
    assert 1 <= cfg.warmup_iters <= settings.iters // 5
    assert (
        workspace.notebook_config(workspace.notebook_settings(tmp_path, environ={}), ["a"]).warmup_iters == 50
    )


def _workspace(root):
    return workspace.Workspace(
        out_dir=root,
        checkpoint=root / "run" / "last.pt",
        train_images=root / "data" / "train",
        train_ann=root / "data" / "train.json",
        val_images=root / "data" / "val",
        val_ann=root.parent / "elsewhere" / "val.json",
        categories=("ellipse", "star"),
        iterations=7,
        data="synthetic shapes",
    )


def test_workspace_round_trips_with_relative_paths(tmp_path):
    record = _workspace(tmp_path / "full")
    path = record.save()
    stored = json.loads(path.read_text())
    assert stored["checkpoint"] == "run/last.pt"
    assert stored["val_ann"] == str((tmp_path / "elsewhere" / "val.json").resolve())
    loaded = workspace.Workspace.load(tmp_path / "full")
    assert loaded.checkpoint.resolve() == record.checkpoint.resolve()
    assert loaded.val_ann == (tmp_path / "elsewhere" / "val.json").resolve()
    assert (loaded.categories, loaded.iterations, loaded.data) == (("ellipse", "star"), 7, "synthetic shapes")


def test_workspace_load_names_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="workspace.json"):
        workspace.Workspace.load(tmp_path)
    (tmp_path / "workspace.json").write_text("{not json")
    with pytest.raises(ValueError, match="malformed"):
        workspace.Workspace.load(tmp_path)
    (tmp_path / "workspace.json").write_text(json.dumps({"checkpoint": "x"}))
    with pytest.raises(ValueError, match="train_images"):
        workspace.Workspace.load(tmp_path)


def test_ensure_checkpoint_trains_once_then_reuses(tmp_path, monkeypatch):
    settings = workspace.NotebookSettings(
        smoke=True, out_dir=tmp_path / "smoke", iters=1, batch_size=1, num_train=2, num_val=1, num_show=1
    )
    first = workspace.ensure_checkpoint(settings, progress=False)
    state = load_checkpoint(first.checkpoint)
    assert state["iteration"] == 1 and list(state["categories"]) == list(first.categories)
    assert first.val_set().image_ids and (tmp_path / "smoke" / "workspace.json").is_file()

    def no_training(*args, **kwargs):
        raise AssertionError("trained again although the checkpoint exists")

    monkeypatch.setattr(workspace, "train", no_training)
    again = workspace.ensure_checkpoint(settings, progress=False)
    assert again.checkpoint.resolve() == first.checkpoint.resolve()


@pytest.mark.parametrize(
    ("dx", "dy", "name"),
    [(1, 0, "right"), (1, -1, "upper right"), (0, -1, "top"), (-1, 1, "lower left"), (0, 1, "bottom")],
)
def test_direction_names_use_image_axes(dx, dy, name):
    assert bases.direction_name(dx, dy) == name


def _semantic_sample(squares, size=64, stride=4):
    """Hand-made bases on a ``size`` image: 0 = relative x inside objects, 1 = on-object (class 1
    twice as strong), 2 = off-object, 3 = objects' borders. ``squares``: (x0, y0, side, label)."""
    cells = size // stride
    centre = torch.arange(cells) * stride + stride / 2
    cy, cx = torch.meshgrid(centre, centre, indexing="ij")
    bases = torch.zeros(4, cells, cells)
    masks = torch.zeros(len(squares), size, size, dtype=torch.bool)
    boxes, labels = [], []
    for n, (x0, y0, side, label) in enumerate(squares):
        x1, y1 = x0 + side, y0 + side
        masks[n, y0:y1, x0:x1] = True
        inside = (cx >= x0) & (cx < x1) & (cy >= y0) & (cy < y1)
        bases[0][inside] = ((cx - x0) / side - 0.5)[inside]
        bases[1][inside] = 1.0 + label
        edge = torch.minimum(torch.minimum(cx - x0, x1 - cx), torch.minimum(cy - y0, y1 - cy))
        bases[3][(edge.abs() <= 3)] = 1.0
        boxes.append([x0, y0, x1, y1])
        labels.append(label)
    bases[2] = -(bases[1] > 0).float()
    prediction = _with_intermediates(
        torch.zeros(0),
        bases=bases,
        scale=(1.0, 1.0),
        image_size=(size, size),
        blend_args=_settings(stride=stride),
    )
    target = {
        "boxes": torch.tensor(boxes, dtype=torch.float32),
        "labels": torch.tensor(labels),
        "masks": masks,
    }
    return prediction, target


def test_basis_semantics_tells_position_semantic_and_border_bases_apart():
    samples = [
        _semantic_sample([(4, 4, 24, 0), (36, 32, 24, 1)]),
        _semantic_sample([(8, 36, 20, 1), (32, 8, 28, 0)]),
        _semantic_sample([(20, 20, 28, 0), (2, 50, 12, 1)]),
    ]
    result = bases.basis_semantics(samples, resolution=14)
    readings = result.readings()
    assert readings == ["position (right)", "on objects", "off objects", "border"], result.table()
    assert result.readings(threshold=0.2)[3] == "border + on objects"
    assert result.readings(threshold=1.01) == ["no clear reading"] * 4
    assert result.position[0] > 0.95 and abs(float(result.foreground[0])) < 0.2
    assert result.class_selectivity[1] > 0.6 and result.class_selectivity[2] < 0.2, result.table()
    assert result.mean_in_box.shape == (4, 14, 14)
    # the averaged position basis rises from the left edge of the box to the right edge
    assert result.mean_in_box[0, 7, -2] > result.mean_in_box[0, 7, 1]
    assert (result.num_images, result.num_instances) == (3, 6)
    assert len(result.table().splitlines()) == 5


def test_basis_semantics_needs_objects():
    prediction, target = _semantic_sample([])
    with pytest.raises(ValueError, match="ground-truth object"):
        bases.basis_semantics([(prediction, target)])


def _rle(x0, y0, x1, y1, size=20):
    mask = torch.zeros(1, size, size, dtype=torch.bool)
    mask[0, y0:y1, x0:x1] = True
    return matching.mask_rles(mask)[0]


def test_match_instances_pairs_by_class_and_reports_misses_and_false_positives():
    gts = [_rle(0, 0, 8, 8), _rle(10, 10, 18, 18)]
    dets = [_rle(0, 0, 8, 8), _rle(10, 10, 18, 16), _rle(0, 0, 8, 6), _rle(1, 12, 7, 19)]
    crowd = [_rle(0, 10, 9, 20)]
    found = matching.match_instances(
        gts, [0, 1], dets, [0, 0, 0, 1], [0.9, 0.8, 0.2, 0.7], crowd_rles=crowd, score_threshold=0.5
    )
    # det 0 matches gt 0; det 1 has the wrong class: a false positive over gt 1, which is missed and
    # names det 1 as its nearest detection; det 2 scores below the threshold; det 3 lies in the crowd
    assert [(p.kind, p.gt, p.det, p.other) for p in found] == [
        ("match", 0, 0, None),
        ("miss", 1, 1, 0),
        ("false positive", 1, 1, 1),
    ]
    assert [p.iou for p in found] == pytest.approx([1.0, 48 / 64, 48 / 64])
    everything = matching.match_instances(
        gts, [0, 1], dets[:3], [0, 0, 0], [0.9, 0.8, 0.2], score_threshold=0.0
    )
    assert [p.kind for p in everything].count("false positive") == 2  # det 2: gt 0 is already taken
    alone = matching.match_instances([], [], dets[:1], [0], [0.9])
    assert alone == [matching.Pairing("false positive", None, 0, 0.0, None)]
    assert matching.match_instances(gts[:1], [0], [], [], []) == [
        matching.Pairing("miss", 0, None, 0.0, None)
    ]


def test_basis_ablation_measures_what_each_basis_carries():
    rois = torch.zeros(2, 2, 4, 4)
    rois[:, 0, :, :2], rois[:, 0, :, 2:], rois[:, 1] = 2.0, -2.0, -1.0
    prediction = _with_intermediates(
        torch.tensor([0.9, 0.1]),
        rois=rois,
        attentions=torch.zeros(2, 2, 2, 2),  # equal weights 0.5
        blend_args=_settings(attn_size=2, top_interp="bilinear"),
    )
    result = bases.basis_ablation([prediction], score_threshold=0.5)
    # with basis 1 off the left half stays; with basis 0 off every logit is -0.5: nothing is left
    assert result.iou_without.tolist() == pytest.approx([0.0, 1.0])
    assert result.contribution.tolist() == pytest.approx([2 / 3, 1 / 3])
    assert result.num_detections == 1
    with pytest.raises(ValueError, match="no detection"):
        bases.basis_ablation([prediction], score_threshold=0.95)


def _attention_prediction(attentions):
    count = attentions.shape[0]
    return _with_intermediates(
        torch.full((count,), 0.9),
        rois=torch.zeros(count, attentions.shape[1], 8, 8),
        attentions=attentions,
        blend_args=_settings(attn_size=attentions.shape[-1], top_interp="nearest"),
    )


def test_attention_template_separates_fixed_from_instance_specific_attention():
    pattern = torch.zeros(2, 2, 2)
    pattern[0, :, 0], pattern[1, :, 1] = 3.0, 3.0  # basis 1 on the left, basis 2 on the right
    fixed = bases.attention_template([_attention_prediction(pattern.expand(5, -1, -1, -1).clone())])
    assert fixed.template_share == pytest.approx(1.0) and fixed.num_detections == 5
    assert fixed.mean.shape == (2, 8, 8) and fixed.mean[0, :, :4].mean() > 0.9
    flipped = bases.attention_template([_attention_prediction(torch.stack([pattern, pattern.flip(-1)]))])
    assert flipped.template_share == pytest.approx(0.0, abs=1e-6)  # the two cancel: nothing shared
    half = bases.attention_template(
        [_attention_prediction(torch.stack([pattern, pattern.flip(-1), pattern, pattern]))]
    )
    assert 0.2 < half.template_share < 0.8
    with pytest.raises(ValueError, match="no detection"):
        bases.attention_template([_attention_prediction(pattern[None])], score_threshold=0.95)


class _PerfectPredictor:
    """Predicts each image's ground truth (score 0.9), found by matching the image."""

    def __init__(self, dataset):
        self.truth = [dataset[i] for i in range(len(dataset))]

    def predict(self, image):
        for candidate, target in self.truth:
            if torch.equal(candidate, image):
                n = len(target["labels"])
                return Prediction(
                    boxes=target["boxes"],
                    labels=target["labels"],
                    masks=target["masks"],
                    scores=torch.full((n,), 0.9),
                )
        raise AssertionError("unknown image")


def test_inspection_of_perfect_predictions(tmp_path):
    data = make_synthetic_coco(tmp_path, num_train=0, num_val=3, num_classes=2)
    dataset = coco_eval_set(data.val_images, data.val_ann)
    inspection = inspect_predictions(_PerfectPredictor(dataset), dataset, progress=False)
    matches = inspection.matches(score_threshold=0.5)
    instances = sum(len(item.gt_labels) for item in inspection.images)
    assert len(matches) == instances and all(m.kind == "match" and m.iou == 1.0 for m in matches)
    assert inspection.matches(score_threshold=0.95)[0].kind == "miss"
    metrics = inspection.metrics()
    assert metrics["segm"]["AP"] == pytest.approx(1.0) and metrics["bbox"]["AP"] == pytest.approx(1.0)
    image, gt, det = inspection.pair(matches[0], min_size=300)
    assert image.shape[0] == 3 and gt["masks"].shape[1:] == image.shape[1:] == det["masks"].shape[1:]
    assert max(image.shape[1:]) >= 300 and gt["masks"].any()
    assert torch.equal(gt["masks"], det["masks"]) and det["scores"].tolist() == pytest.approx([0.9])
    prediction = inspection.prediction(0)
    assert prediction["masks"].shape[1:] == inspection.image(0)[0].shape[1:]
    table = matching.match_summary(matches, inspection.categories).splitlines()
    assert table[-1].split()[:2] == ["all", str(instances)] and len(table) == 2 + len(inspection.categories)


def test_photos_are_resized_only_for_models_that_keep_the_input_size():
    photos = sample_photos()
    assert list(photos) == list(PHOTOS) and all(p.ndim == 3 and p.shape[2] == 3 for p in photos.values())
    astronaut = photos["astronaut"]
    tiny = resize_for_model(astronaut, BlendMaskConfig.from_preset("cpu_tiny"))
    assert tiny.shape == (3, 128, 128) and tiny.dtype == torch.float32 and 0 <= tiny.min() <= tiny.max() <= 1
    full = resize_for_model(astronaut, BlendMaskConfig.from_preset("R_50_1x"))
    assert full.shape == (3, *astronaut.shape[:2])
    assert np.allclose(full.permute(1, 2, 0).numpy() * 255, astronaut, atol=0.5)
    with pytest.raises(ValueError, match="no image"):
        sample_photos(["not_a_photo"])
