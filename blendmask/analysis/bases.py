"""The paper's §3.4 reading of the bases, measured: how much each basis follows the relative position
inside an object (position-sensitive) versus the object/background map (semantic) or the borders;
which basis a mask needs (ablation); and the average attention (template)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from ..modeling.blender import blend_steps, crop_bases, merge
from ..structures import Prediction

READING_THRESHOLD = 0.3  # a correlation this strong names a trait of a basis
_DIRECTIONS = ("right", "upper right", "top", "upper left", "left", "lower left", "bottom", "lower right")


def direction_name(dx: float, dy: float) -> str:
    """Compass name of an image-axes direction (x right, y down), e.g. (1, -1) -> "upper right"."""
    angle = math.degrees(math.atan2(-dy, dx)) % 360.0
    return _DIRECTIONS[int((angle + 22.5) // 45) % 8]


@dataclass(frozen=True)
class BasisSemantics:
    """What each of K bases encodes, measured on ground-truth instances (bases standardised per image).

    foreground          (K,) Pearson r of the basis with the on-object map (> 0: fires on objects)
    border              (K,) Pearson r with a band of half a basis cell around every object's border
    position            (K,) multiple correlation of the basis' variation inside each object with the
                        relative position (u, v) in its box (the object's own mean removed first)
    direction           (K, 2) unit (dx, dy), image axes (y down): where inside objects the basis grows
    class_selectivity   (K,) eta^2 of the per-object mean over classes (1: its level names the class)
    mean_in_box         (K, R, R) the standardised basis averaged over the objects' boxes (RoIAlign)
    """

    foreground: Tensor
    border: Tensor
    position: Tensor
    direction: Tensor
    class_selectivity: Tensor
    mean_in_box: Tensor
    num_images: int
    num_instances: int

    @property
    def num_bases(self) -> int:
        return int(self.foreground.shape[0])

    def readings(self, threshold: float = READING_THRESHOLD) -> list[str]:
        """Per basis, every measure reaching ``threshold``, strongest first, joined by " + ":
        "position (<direction>)", "on objects" / "off objects" (semantic) and "border";
        "no clear reading" when none does."""
        readings = []
        for k in range(self.num_bases):
            traits = [
                (float(self.position[k]), f"position ({direction_name(*self.direction[k].tolist())})"),
                (abs(float(self.foreground[k])), "on objects" if self.foreground[k] > 0 else "off objects"),
                (float(self.border[k]), "border"),
            ]
            strong = [name for value, name in sorted(traits, key=lambda t: -t[0]) if value >= threshold]
            readings.append(" + ".join(strong) or "no clear reading")
        return readings

    def table(self) -> str:
        """A text table: one row per basis."""
        names = ("foreground r", "border r", "position R", "class eta2")
        header = f"{'basis':>5}" + "".join(f"{name:>14}" for name in names) + "  reading"
        rows = [header]
        for k, kind in enumerate(self.readings()):
            numbers = (self.foreground[k], self.border[k], self.position[k], self.class_selectivity[k])
            signed = [f"{float(v):>+14.2f}" for v in numbers[:2]] + [
                f"{float(v):>14.2f}" for v in numbers[2:]
            ]
            rows.append(f"{k + 1:>5}" + "".join(signed) + f"  {kind}")
        return "\n".join(rows)


def _band(masks: Tensor, width: int) -> Tensor:
    """(N, H, W) bool -> (H, W) bool: pixels within ``width`` px of any mask's border (inside or out)."""
    if masks.shape[0] == 0:
        return torch.zeros(masks.shape[1:], dtype=torch.bool)
    m = masks.float()[:, None]
    kernel = 2 * width + 1
    dilated = F.max_pool2d(m, kernel, stride=1, padding=width)[:, 0] > 0
    eroded = F.max_pool2d(1.0 - m, kernel, stride=1, padding=width)[:, 0] == 0
    return (dilated & ~eroded).any(0)


def _pearson(values: Tensor, indicator: Tensor) -> Tensor:
    """(K, n) and (n,) -> (K,) correlation; 0 where either side is constant."""
    x = values - values.mean(1, keepdim=True)
    y = indicator.float() - indicator.float().mean()
    denom = x.norm(dim=1) * y.norm()
    return torch.where(denom > 0, (x @ y) / denom.clamp_min(1e-12), torch.zeros_like(denom))


def basis_semantics(
    samples: Iterable[tuple[Prediction, Mapping[str, Any]]], *, resolution: int = 28
) -> BasisSemantics:
    """Measure what the bases encode from ``(prediction, target)`` pairs of the same images.

    ``prediction``: an eval-mode prediction with intermediates (``bases`` (K, h, w), ``scale``,
    ``image_size``, ``blend_args``); ``target``: the image's ground truth in original pixels
    (``boxes`` (N, 4) xyxy, ``labels`` (N,), ``masks`` (N, H, W) bool). Each basis is read at its cell
    centres, mapped to original pixels, and standardised per image. Raises ValueError without any
    ground-truth object.
    """
    values, on_object, on_border = [], [], []
    centred, rel_u, rel_v, object_means, object_labels, crops = [], [], [], [], [], []
    num_images = 0
    for prediction, target in samples:
        bases = prediction.cpu().bases.float()
        stride = prediction.blend_args.stride
        height, width = prediction.image_size
        scale_y, scale_x = prediction.scale
        masks = target["masks"].detach().cpu().bool()
        boxes = target["boxes"].detach().cpu().float().reshape(-1, 4)
        labels = target["labels"].detach().cpu().long()
        centre_x = (torch.arange(bases.shape[2]) * stride + stride / 2) / scale_x
        centre_y = (torch.arange(bases.shape[1]) * stride + stride / 2) / scale_y
        keep_x, keep_y = centre_x < width, centre_y < height
        if not keep_x.any() or not keep_y.any():
            continue
        grid = bases[:, keep_y][:, :, keep_x]  # (K, h', w') cells whose centre lies in the image
        mean, std = grid.mean((1, 2), keepdim=True), grid.std((1, 2), keepdim=True).clamp_min(1e-6)
        rows, cols = centre_y[keep_y].long(), centre_x[keep_x].long()  # pixel under each centre
        z = (grid - mean) / std
        sampled = masks[:, rows][:, :, cols]  # (N, h', w')
        band = max(1, round(stride / 2 / max(scale_x, scale_y)))
        values.append(z.flatten(1))
        on_object.append(sampled.any(0).flatten())
        on_border.append(_band(masks, band)[rows][:, cols].flatten())
        num_images += 1
        if masks.shape[0] == 0:
            continue
        gy, gx = torch.meshgrid(centre_y[keep_y], centre_x[keep_x], indexing="ij")
        for n in range(masks.shape[0]):
            inside = sampled[n]
            x0, y0, x1, y1 = boxes[n].tolist()
            if inside.sum() < 3 or x1 <= x0 or y1 <= y0:
                continue
            zi = z[:, inside]  # (K, m)
            u = (gx[inside] - x0) / (x1 - x0)
            v = (gy[inside] - y0) / (y1 - y0)
            object_means.append(zi.mean(1))
            object_labels.append(int(labels[n]))
            centred.append(zi - zi.mean(1, keepdim=True))
            rel_u.append(u - u.mean())
            rel_v.append(v - v.mean())
        standardised = (bases - mean) / std
        scaled = boxes * boxes.new_tensor([scale_x, scale_y, scale_x, scale_y])
        crops.append(crop_bases(standardised[None], [scaled], resolution=resolution, stride=stride))
    if not object_means:
        raise ValueError("basis_semantics needs at least one ground-truth object covering 3 basis cells")

    values_all = torch.cat(values, 1)
    foreground = _pearson(values_all, torch.cat(on_object))
    border = _pearson(values_all, torch.cat(on_border))

    zc = torch.cat(centred, 1)  # (K, m)
    design = torch.stack([torch.cat(rel_u), torch.cat(rel_v)], 1)  # (m, 2)
    coef = torch.linalg.lstsq(design, zc.T).solution  # (2, K)
    residual = zc.T - design @ coef
    total = (zc**2).sum(1).clamp_min(1e-12)
    position = (1 - (residual**2).sum(0) / total).clamp(0, 1).sqrt()
    direction = F.normalize(coef.T, dim=1)

    means = torch.stack(object_means)  # (I, K)
    labels_all = torch.tensor(object_labels)
    grand = means.mean(0)
    between = sum(
        (labels_all == c).sum() * (means[labels_all == c].mean(0) - grand) ** 2 for c in labels_all.unique()
    )
    spread = ((means - grand) ** 2).sum(0)
    selectivity = torch.where(spread > 0, between / spread.clamp_min(1e-12), torch.zeros_like(spread))

    return BasisSemantics(
        foreground=foreground,
        border=border,
        position=position,
        direction=direction,
        class_selectivity=selectivity,
        mean_in_box=torch.cat(crops).mean(0),
        num_images=num_images,
        num_instances=len(object_means),
    )


@dataclass(frozen=True)
class BasisAblation:
    """How much the detections' masks rely on each basis.

    iou_without   (K,) mean IoU of each mask with the mask blended with basis k switched off (weight 0)
    contribution  (K,) mean share of basis k in sum_k |s^k r^k| over the masks' R x R regions
    """

    iou_without: Tensor
    contribution: Tensor
    num_detections: int


def basis_ablation(predictions: Iterable[Prediction], *, score_threshold: float = 0.3) -> BasisAblation:
    """Switch each basis off in turn for every detection scoring >= ``score_threshold`` of eval-mode
    predictions with intermediates (``rois``, ``attentions``, ``blend_args``), re-blend, and compare
    the R x R masks (logits >= 0) with the predicted ones. Raises ValueError without any detection."""
    ious, shares = [], []
    for prediction in predictions:
        kept = prediction.above(score_threshold)
        if len(kept) == 0:
            continue
        steps = _steps(kept)
        full = steps.logits >= 0  # (D, R, R)
        magnitude = steps.products.abs().sum((2, 3))  # (D, K)
        shares.append(magnitude / magnitude.sum(1, keepdim=True).clamp_min(1e-12))
        per_basis = []
        for k in range(steps.weights.shape[1]):
            weights = steps.weights.clone()
            weights[:, k] = 0
            reduced = merge(steps.rois, weights)[1] >= 0
            union = (reduced | full).sum((1, 2))
            inter = (reduced & full).sum((1, 2))
            per_basis.append(
                torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(union).float())
            )
        ious.append(torch.stack(per_basis, 1))  # (D, K)
    if not ious:
        raise ValueError(f"basis_ablation: no detection scores >= {score_threshold}")
    everything = torch.cat(ious)
    return BasisAblation(
        iou_without=everything.mean(0),
        contribution=torch.cat(shares).mean(0),
        num_detections=everything.shape[0],
    )


@dataclass(frozen=True)
class AttentionTemplate:
    """How instance-specific the soft-maxed attentions s^k (K, R, R) of the detections are.

    mean            (K, R, R) the attention averaged over the detections (a fixed position template)
    template_share  share of the attentions' variation around a constant weight per basis that the
                    template explains; 1: every detection uses the same attention (like FCIS' fixed
                    tiles); the rest, ``1 - template_share``, is specific to the instance
    """

    mean: Tensor
    template_share: float
    num_detections: int


def attention_template(
    predictions: Iterable[Prediction], *, score_threshold: float = 0.3
) -> AttentionTemplate:
    """Average the interpolated, soft-maxed attentions of every detection scoring >= ``score_threshold``
    (eval-mode predictions with intermediates) and measure how much of them that average explains.
    Raises ValueError without any detection."""
    weights = []
    for prediction in predictions:
        kept = prediction.above(score_threshold)
        if len(kept):
            weights.append(_steps(kept).weights)
    if not weights:
        raise ValueError(f"attention_template: no detection scores >= {score_threshold}")
    everything = torch.cat(weights)  # (D, K, R, R)
    mean = everything.mean(0)
    constant = mean.mean((1, 2), keepdim=True)  # one weight per basis
    total = float(((everything - constant) ** 2).sum())
    rest = float(((everything - mean) ** 2).sum())
    share = 1.0 - rest / total if total > 0 else 1.0
    return AttentionTemplate(mean=mean, template_share=share, num_detections=everything.shape[0])


def _steps(prediction: Prediction):
    """``blend_steps`` of every detection of a prediction (weights, products, logits)."""
    settings, prediction = prediction.blend_args, prediction.cpu()
    attentions = prediction.attentions
    return blend_steps(
        prediction.rois.float(),
        None if attentions is None else attentions.float(),
        method=settings.method,
        attn_size=settings.attn_size,
        top_interp=settings.top_interp,
    )
