"""Galleries of images as matplotlib Figures: dataset samples with their ground truth, the pairs of
an inspection (``blendmask.analysis.inspection``) and detections on photos."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from matplotlib.figure import Figure

from blendmask.analysis.inspection import Inspection
from blendmask.analysis.matching import FALSE_POSITIVE, MISS, InstanceMatch
from viz.overlay import draw_instances


def samples_figure(dataset, count: int, *, title: str | None = None, font_size: int = 9) -> Figure:
    """The first ``count`` items of a dataset of ``(image, target)`` in one row, each with its
    ground-truth masks and named by its image id and number of instances."""
    count = min(count, len(dataset))
    fig = Figure(figsize=(2.2 * count, 2.5), layout="tight")
    for ax, index in zip(fig.subplots(1, count, squeeze=False)[0], range(count), strict=True):
        image, target = dataset[index]
        picture = draw_instances(image, target, class_names=dataset.categories, font_size=font_size)
        ax.imshow(picture, interpolation="nearest")
        ax.set_title(f"image {target['image_id']}: {len(target['labels'])} instances", fontsize=8)
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=9)
    return fig


def match_title(match: InstanceMatch) -> str:
    """A short caption of a match (class, IoU, score, image), a miss (what lies nearest) or a false
    positive (what it sits on)."""
    if match.kind == MISS:
        near = "nothing near" if match.other is None else f"nearest {match.other}, IoU {match.iou:.2f}"
        return f"missed {match.category}: {near}"
    if match.kind == FALSE_POSITIVE:
        under = "background" if match.other is None else f"a {match.other} (IoU {match.iou:.2f})"
        return f"{match.category} {match.score:.2f} on {under}"
    return f"{match.category}, IoU {match.iou:.2f}, score {match.score:.2f} (image {match.image_id})"


def inspection_gallery(
    inspection: Inspection,
    matches: Sequence[InstanceMatch],
    *,
    score_threshold: float = 0.5,
    columns: int = 2,
    min_size: int = 160,
) -> Figure | None:
    """Every match / miss / false positive of ``matches`` as a crop around both instances (enlarged
    to at least ``min_size`` px): ground truth on the left, the detection on the right, captioned by
    ``match_title``. None when ``matches`` is empty."""
    if not matches:
        return None
    rows = (len(matches) + columns - 1) // columns
    fig = Figure(figsize=(4.6 * columns, 2.7 * rows), layout="tight")
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    for ax in axes:
        ax.axis("off")
    for ax, match in zip(axes, matches, strict=False):
        crop, gt, det = inspection.pair(match, min_size=min_size)
        picture = draw_instances(
            crop,
            det,
            ground_truth=gt,
            class_names=inspection.categories,
            score_threshold=score_threshold,
            font_size=10,
        )
        ax.imshow(picture)
        ax.set_title(match_title(match), fontsize=8)
    return fig


def photos_figure(
    images: Mapping[str, object],
    predictions: Mapping[str, Mapping],
    *,
    class_names: Sequence[str],
    score_threshold: float = 0.5,
) -> Figure:
    """Each named photo with its detections scoring at least ``score_threshold``, titled with the
    count of every class found ("nothing" without one)."""
    fig = Figure(figsize=(4.2 * len(images), 3.6), layout="tight")
    for ax, (name, image) in zip(fig.subplots(1, len(images), squeeze=False)[0], images.items(), strict=True):
        prediction = predictions[name]
        found = Counter(class_names[label] for label in prediction.above(score_threshold).labels.tolist())
        picture = draw_instances(
            image, prediction, class_names=class_names, score_threshold=score_threshold, font_size=8
        )
        ax.imshow(picture)
        ax.set_title(
            f"{name}: " + (", ".join(f"{n} × {c}" for n, c in found.items()) or "nothing"), fontsize=8
        )
        ax.axis("off")
    return fig
