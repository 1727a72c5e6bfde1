"""Paper §3.4 basis measures: direction names, basis semantics, basis ablation, attention templates."""

from __future__ import annotations

import pytest
import torch

from blendmask.analysis import bases
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
