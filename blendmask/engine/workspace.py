"""What the notebooks share: the small-work switch, the checkpoint they pass on, and their analyses.

* ``notebook_settings``: ``BLENDMASK_SMOKE=1`` picks a tiny budget and ``<root>/smoke``; otherwise
  ``cpu_tiny``'s own budget on the demo's synthetic set and ``<root>/full``, so smoke runs never touch
  full-run outputs.
* ``Workspace``: the checkpoint and data paths one notebook leaves for the next (``workspace.json``);
  ``ensure_checkpoint`` trains ``cpu_tiny`` on the synthetic set when there is none yet.
* ``basis_semantics``: the paper's §3.4 reading of the bases, measured: how much each basis follows
  the relative position inside an object (position-sensitive) versus the object/background map
  (semantic) or the objects' borders.
* ``inspect_predictions``: predictions against ground truth instance by instance (mask IoU through
  pycocotools): matches with their IoU, misses, false positives, and COCOeval of the same detections.
* ``sample_photos`` / ``resize_for_model``: the real photos shipped with scikit-image.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pycocotools.mask as mask_utils
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.transforms.v2 import functional as TF
from tqdm.auto import tqdm

from ..config import PRESETS, BlendMaskConfig
from ..data import CocoInstances, make_synthetic_coco
from ..modeling.blender import blend_steps, crop_bases, merge
from .datasets import coco_eval_set, coco_train_set
from .demo import DEMO_NUM_TRAIN, DEMO_NUM_VAL, DEMO_OVERRIDES
from .evaluate import coco_evaluate, predictions_to_coco
from .predict import Predictor
from .train import train

# ----------------------------------------------------------------------------- settings

SMOKE_ENV = "BLENDMASK_SMOKE"
SMOKE_BUDGET = dict(iters=8, batch_size=2, num_train=16, num_val=6, num_show=3)
FULL_BUDGET = dict(
    iters=PRESETS["cpu_tiny"]["max_iter"],
    batch_size=PRESETS["cpu_tiny"]["batch_size"],
    num_train=DEMO_NUM_TRAIN,
    num_val=DEMO_NUM_VAL,
    num_show=6,
)
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")


def smoke_mode(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the small-work switch ``BLENDMASK_SMOKE`` is on (1/true/yes/on; 0/false/no/off/unset = off)."""
    value = (os.environ if environ is None else environ).get(SMOKE_ENV, "").strip().lower()
    if value not in _TRUE + _FALSE:
        raise ValueError(f"environment variable {SMOKE_ENV}={value!r}: use 1 (small work) or 0")
    return value in _TRUE


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
    from viz.plotly_views import use_offline_renderer

    use_offline_renderer()
    smoke = smoke_mode(environ)
    budget = SMOKE_BUDGET if smoke else FULL_BUDGET
    return NotebookSettings(smoke=smoke, out_dir=Path(output_root) / ("smoke" if smoke else "full"), **budget)


def notebook_config(
    settings: NotebookSettings, categories: Sequence[str], *, preset: str = "cpu_tiny", **overrides: Any
) -> BlendMaskConfig:
    """``preset`` (with the demo's changes for ``cpu_tiny``) for ``categories``, trained for
    ``settings.iters`` iterations of ``settings.batch_size``; warm-up shortened to a fifth of short runs."""
    warmup = min(BlendMaskConfig.from_preset(preset).warmup_iters, max(1, settings.iters // 5))
    values: dict[str, Any] = dict(DEMO_OVERRIDES) if preset == "cpu_tiny" else {}
    values.update(
        num_classes=len(categories),
        class_names=list(categories),
        max_iter=settings.iters,
        batch_size=settings.batch_size,
        warmup_iters=warmup,
    )
    values.update(overrides)
    return BlendMaskConfig.from_preset(preset, **values)


# ----------------------------------------------------------------------------- workspace

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


# ----------------------------------------------------------------------------- bases: §3.4

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
    samples: Iterable[tuple[Mapping[str, Any], Mapping[str, Any]]], *, resolution: int = 28
) -> BasisSemantics:
    """Measure what the bases encode from ``(prediction, target)`` pairs of the same images.

    ``prediction``: an eval-mode prediction dict with intermediates (``bases`` (K, h, w), ``scale``,
    ``image_size``, ``blend_args``); ``target``: the image's ground truth in original pixels
    (``boxes`` (N, 4) xyxy, ``labels`` (N,), ``masks`` (N, H, W) bool). Each basis is read at its cell
    centres, mapped to original pixels, and standardised per image. Raises ValueError without any
    ground-truth object.
    """
    values, on_object, on_border = [], [], []
    centred, rel_u, rel_v, object_means, object_labels, crops = [], [], [], [], [], []
    num_images = 0
    for prediction, target in samples:
        bases = prediction["bases"].detach().cpu().float()
        stride = int(prediction["blend_args"]["stride"])
        height, width = (int(v) for v in prediction["image_size"])
        scale_y, scale_x = (float(v) for v in prediction["scale"])
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


def basis_ablation(
    predictions: Iterable[Mapping[str, Any]], *, score_threshold: float = 0.3
) -> BasisAblation:
    """Switch each basis off in turn for every detection scoring >= ``score_threshold`` of eval-mode
    predictions with intermediates (``rois``, ``attentions``, ``blend_args``), re-blend, and compare
    the R x R masks (logits >= 0) with the predicted ones. Raises ValueError without any detection."""
    ious, shares = [], []
    for prediction in predictions:
        keep = prediction["scores"].detach().cpu() >= score_threshold
        if not keep.any():
            continue
        steps = _steps(prediction, keep)
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
    predictions: Iterable[Mapping[str, Any]], *, score_threshold: float = 0.3
) -> AttentionTemplate:
    """Average the interpolated, soft-maxed attentions of every detection scoring >= ``score_threshold``
    (eval-mode predictions with intermediates) and measure how much of them that average explains.
    Raises ValueError without any detection."""
    weights = []
    for prediction in predictions:
        keep = prediction["scores"].detach().cpu() >= score_threshold
        if keep.any():
            weights.append(_steps(prediction, keep).weights)
    if not weights:
        raise ValueError(f"attention_template: no detection scores >= {score_threshold}")
    everything = torch.cat(weights)  # (D, K, R, R)
    mean = everything.mean(0)
    constant = mean.mean((1, 2), keepdim=True)  # one weight per basis
    total = float(((everything - constant) ** 2).sum())
    rest = float(((everything - mean) ** 2).sum())
    share = 1.0 - rest / total if total > 0 else 1.0
    return AttentionTemplate(mean=mean, template_share=share, num_detections=everything.shape[0])


def _steps(prediction: Mapping[str, Any], keep: Tensor):
    """``blend_steps`` of the kept detections of a prediction (weights, products, logits)."""
    args = prediction["blend_args"]
    attentions = prediction["attentions"]
    return blend_steps(
        prediction["rois"].detach().cpu().float()[keep],
        None if attentions is None else attentions.detach().cpu().float()[keep],
        method=args["method"],
        attn_size=args.get("attn_size"),
        top_interp=args.get("top_interp", "bilinear"),
    )


# ----------------------------------------------------------------------------- predictions vs truth

MATCH, MISS, FALSE_POSITIVE = "match", "miss", "false positive"


class Pairing(NamedTuple):
    """One entry of ``match_instances``.

    ``kind`` "match": detection ``det`` of the right class paired with ground-truth instance ``gt``;
    "miss": instance ``gt`` left without one; "false positive": detection ``det`` left without one.
    For a miss, ``det`` is the detection overlapping it most (IoU >= the match threshold; another
    class, or one already paired), else None; for a false positive, ``gt`` is likewise the instance it
    overlaps most. ``iou``: mask IoU of ``gt`` and ``det`` (0 when one is None); ``other``: the label
    of that nearest instance for a miss / false positive (a class confusion when it differs).
    """

    kind: str
    gt: int | None
    det: int | None
    iou: float
    other: int | None


@dataclass(frozen=True)
class InstanceMatch:
    """One match, miss or false positive of an inspected image (see ``Pairing``), with class names."""

    index: int  # the image's position in the dataset
    image_id: int
    kind: str
    category: str  # the ground truth's class (match, miss) or the detection's (false positive)
    iou: float
    score: float | None  # score of detection ``det`` (None without one)
    gt: int | None  # index into the image's ground-truth instances
    det: int | None  # index into the image's detections (by score, high first)
    other: str | None = None  # class of the nearest instance of a miss / false positive


def mask_rles(masks: Tensor) -> list[dict]:
    """(N, H, W) bool masks -> N pycocotools RLEs."""
    if masks.shape[0] == 0:
        return []
    return mask_utils.encode(np.asfortranarray(masks.cpu().numpy().transpose(1, 2, 0).astype(np.uint8)))


def _iou(dets: list, gts: list, crowd: bool = False) -> np.ndarray:
    if not dets or not gts:
        return np.zeros((len(dets), len(gts)))
    return np.asarray(mask_utils.iou(dets, gts, [int(crowd)] * len(gts)), dtype=np.float64)


def match_instances(
    gt_rles: list,
    gt_labels: Sequence[int],
    det_rles: list,
    det_labels: Sequence[int],
    det_scores: Sequence[float],
    *,
    crowd_rles: Sequence = (),
    score_threshold: float = 0.5,
    match_threshold: float = 0.1,
) -> list[Pairing]:
    """Pair detections with ground-truth instances of the same class, COCO-style: detections scoring
    >= ``score_threshold`` in order of score each take the unpaired instance of their class with the
    highest mask IoU, if it is >= ``match_threshold``. A detection left over that covers a crowd region
    (intersection over its area >= ``match_threshold``) is ignored. Masks are pycocotools RLEs.

    Returns matches (by ground-truth index), then misses, then false positives (by score).
    """
    order = [
        int(d)
        for d in np.argsort(-np.asarray(det_scores, dtype=np.float64), kind="stable")
        if det_scores[d] >= score_threshold
    ]
    ious = _iou([det_rles[d] for d in order], list(gt_rles))  # (D', G)
    crowd = _iou([det_rles[d] for d in order], list(crowd_rles), crowd=True)
    taken: dict[int, int] = {}  # gt -> row of its detection
    unpaired: list[int] = []
    for row, d in enumerate(order):
        best, best_iou = None, match_threshold
        for g, label in enumerate(gt_labels):
            if label == det_labels[d] and g not in taken and ious[row, g] >= best_iou:
                best, best_iou = g, ious[row, g]
        if best is not None:
            taken[best] = row
        elif not (crowd.shape[1] and crowd[row].max() >= match_threshold):
            unpaired.append(row)
    out = [Pairing(MATCH, g, order[taken[g]], float(ious[taken[g], g]), None) for g in sorted(taken)]
    for g in range(len(gt_labels)):
        if g not in taken:
            row = int(ious[:, g].argmax()) if order else None
            if row is None or ious[row, g] < match_threshold:
                out.append(Pairing(MISS, g, None, 0.0 if row is None else float(ious[row, g]), None))
            else:
                d = order[row]
                out.append(Pairing(MISS, g, d, float(ious[row, g]), int(det_labels[d])))
    for row in unpaired:
        g = int(ious[row].argmax()) if len(gt_labels) else None
        if g is None or ious[row, g] < match_threshold:
            out.append(
                Pairing(FALSE_POSITIVE, None, order[row], 0.0 if g is None else float(ious[row, g]), None)
            )
        else:
            out.append(Pairing(FALSE_POSITIVE, g, order[row], float(ious[row, g]), int(gt_labels[g])))
    return out


@dataclass(frozen=True)
class ImagePredictions:
    """One image's ground truth and detections, masks as pycocotools RLEs."""

    index: int
    image_id: int
    image_size: tuple[int, int]
    gt_boxes: Tensor  # (N, 4) xyxy px
    gt_labels: tuple[int, ...]
    gt_rles: list
    crowd_rles: list
    boxes: Tensor  # (D, 4) xyxy px, detections by score, high first
    scores: tuple[float, ...]
    labels: tuple[int, ...]
    rles: list


@dataclass
class Inspection:
    """Detections of a model on a dataset, kept for instance-level inspection and COCOeval."""

    dataset: CocoInstances
    categories: list[str]
    images: list[ImagePredictions]
    results: list[dict]  # COCO results entries of every detection

    def matches(self, *, score_threshold: float = 0.5, match_threshold: float = 0.1) -> list[InstanceMatch]:
        """Every match, miss and false positive of every image (see ``match_instances``)."""
        found = []
        for item in self.images:
            pairings = match_instances(
                item.gt_rles,
                item.gt_labels,
                item.rles,
                item.labels,
                item.scores,
                crowd_rles=item.crowd_rles,
                score_threshold=score_threshold,
                match_threshold=match_threshold,
            )
            for p in pairings:
                label = item.labels[p.det] if p.kind == FALSE_POSITIVE else item.gt_labels[p.gt]
                found.append(
                    InstanceMatch(
                        index=item.index,
                        image_id=item.image_id,
                        kind=p.kind,
                        category=self.categories[label],
                        iou=p.iou,
                        score=None if p.det is None else item.scores[p.det],
                        gt=p.gt,
                        det=p.det,
                        other=None if p.other is None else self.categories[p.other],
                    )
                )
        return found

    def metrics(self) -> dict[str, Any]:
        """COCOeval (segm and bbox, per category) of the inspected detections."""
        return coco_evaluate(
            self.dataset.coco, self.results, image_ids=[item.image_id for item in self.images]
        )

    def image(self, position: int) -> tuple[Tensor, dict]:
        """Image ``(3, H, W)`` and ground-truth target of the ``position``-th inspected image."""
        return self.dataset[self.images[position].index]

    def prediction(self, position: int) -> dict[str, Tensor]:
        """The ``position``-th inspected image's detections: boxes, scores, labels, masks (D, H, W) bool."""
        item = self.images[position]
        return {
            "boxes": item.boxes,
            "scores": torch.tensor(item.scores),
            "labels": torch.tensor(item.labels),
            "masks": _decode(item.rles, item.image_size),
        }

    def pair(
        self, match: InstanceMatch, *, margin: float = 0.5, min_size: int = 0
    ) -> tuple[Tensor, dict, dict]:
        """``(image crop, ground truth, detection)`` of one match / miss / false positive: the crop is
        the union of the two boxes grown by ``margin`` of its size, enlarged by a whole factor until its
        longer side is at least ``min_size`` px (nearest-neighbour masks). Each dict holds 0 or 1 instance."""
        item = next(item for item in self.images if item.index == match.index)
        image, _ = self.dataset[match.index]
        gt = _one(item.gt_boxes, item.gt_labels, item.gt_rles, None, match.gt, item.image_size)
        det = _one(item.boxes, item.labels, item.rles, item.scores, match.det, item.image_size)
        boxes = torch.cat([gt["boxes"], det["boxes"]])
        x0, y0 = boxes[:, :2].min(0).values.tolist()
        x1, y1 = boxes[:, 2:].max(0).values.tolist()
        pad_x, pad_y = margin * (x1 - x0) + 2, margin * (y1 - y0) + 2
        height, width = item.image_size
        left, top = max(0, int(x0 - pad_x)), max(0, int(y0 - pad_y))
        right, bottom = min(width, math.ceil(x1 + pad_x)), min(height, math.ceil(y1 + pad_y))
        crop = image[:, top:bottom, left:right]
        factor = max(1, math.ceil(min_size / max(crop.shape[1:])))
        if factor > 1:
            crop = F.interpolate(crop[None], scale_factor=factor, mode="bilinear", align_corners=False)[0]
        for part in (gt, det):
            masks = part["masks"][:, top:bottom, left:right]
            part["masks"] = masks.repeat_interleave(factor, 1).repeat_interleave(factor, 2)
            part["boxes"] = (
                part["boxes"] - torch.tensor([left, top, left, top], dtype=torch.float32)
            ) * factor
        return crop.clamp(0, 1), gt, det


def _decode(rles: list, image_size: tuple[int, int]) -> Tensor:
    if not rles:
        return torch.zeros((0, *image_size), dtype=torch.bool)
    return torch.from_numpy(mask_utils.decode(rles).transpose(2, 0, 1).astype(bool))


def _one(boxes: Tensor, labels, rles: list, scores, index: int | None, image_size) -> dict:
    picked = [] if index is None else [index]
    out = {
        "boxes": boxes[picked].float().reshape(-1, 4),
        "labels": torch.tensor([labels[i] for i in picked], dtype=torch.int64),
        "masks": _decode([rles[i] for i in picked], image_size),
    }
    if scores is not None:
        out["scores"] = torch.tensor([scores[i] for i in picked], dtype=torch.float32)
    return out


@torch.no_grad()
def _predict(source: Predictor | nn.Module, image: Tensor) -> dict[str, Tensor]:
    if isinstance(source, nn.Module):
        was_training = source.training
        source.eval()
        try:
            return source([image.to(next(source.parameters()).device)])[0]
        finally:
            source.train(was_training)
    return source.predict(image)


def inspect_predictions(
    source: Predictor | nn.Module,
    dataset: CocoInstances,
    *,
    max_images: int | None = None,
    progress: bool = True,
) -> Inspection:
    """Run a Predictor (or a BlendMask model) over the first ``max_images`` images of an evaluation
    ``CocoInstances`` (original sizes) and keep ground truth and detections as RLEs."""
    categories = list(dataset.categories)
    label_of = {cid: label for label, cid in enumerate(dataset.label_to_category_id)}
    count = len(dataset) if max_images is None else min(max_images, len(dataset))
    images, results = [], []
    for index in tqdm(range(count), desc="predict", disable=not progress, leave=False):
        image, target = dataset[index]
        image_id = int(target["image_id"])
        prediction = _predict(source, image)
        order = prediction["scores"].detach().cpu().argsort(descending=True, stable=True)
        boxes = prediction["boxes"].detach().cpu().float()[order]
        entries = predictions_to_coco(
            {key: prediction[key].detach().cpu()[order] for key in ("boxes", "scores", "labels", "masks")},
            image_id,
            dataset.label_to_category_id,
        )
        results.extend(entries)
        crowd = [
            dataset.coco.annToRLE(ann) for ann in dataset.coco.imgToAnns[image_id] if ann.get("iscrowd", 0)
        ]
        images.append(
            ImagePredictions(
                index=index,
                image_id=image_id,
                image_size=tuple(int(v) for v in image.shape[-2:]),
                gt_boxes=target["boxes"].float(),
                gt_labels=tuple(int(v) for v in target["labels"]),
                gt_rles=mask_rles(target["masks"]),
                crowd_rles=crowd,
                boxes=boxes,
                scores=tuple(entry["score"] for entry in entries),
                labels=tuple(label_of[entry["category_id"]] for entry in entries),
                rles=[entry["segmentation"] for entry in entries],
            )
        )
    return Inspection(dataset=dataset, categories=categories, images=images, results=results)


def match_summary(
    matches: Sequence[InstanceMatch], categories: Sequence[str], *, iou_threshold: float = 0.5
) -> str:
    """Per-category counts at one score threshold as a text table: ground truth, detections, matches,
    good matches (mask IoU >= ``iou_threshold``), misses, false positives, mean IoU of the matches,
    and precision / recall counting only good matches."""
    header = (
        f"{'category':<14}{'GT':>5}{'dets':>6}{'match':>7}{'IoU≥' + format(iou_threshold, 'g'):>8}"
        f"{'miss':>6}{'FP':>5}{'mIoU':>7}{'prec':>7}{'recall':>8}"
    )
    lines = [header]
    for name in [*categories, "all"]:
        chosen = [m for m in matches if name == "all" or m.category == name]
        paired = [m for m in chosen if m.kind == MATCH]
        good = sum(m.iou >= iou_threshold for m in paired)
        misses = sum(m.kind == MISS for m in chosen)
        false = sum(m.kind == FALSE_POSITIVE for m in chosen)
        truths, dets = len(paired) + misses, len(paired) + false
        miou = f"{np.mean([m.iou for m in paired]):.2f}" if paired else "-"
        precision = f"{good / dets:.2f}" if dets else "-"
        recall = f"{good / truths:.2f}" if truths else "-"
        lines.append(
            f"{name:<14}{truths:>5}{dets:>6}{len(paired):>7}{good:>8}{misses:>6}{false:>5}"
            f"{miou:>7}{precision:>7}{recall:>8}"
        )
    return "\n".join(lines)


# ----------------------------------------------------------------------------- photos

PHOTOS = ("astronaut", "coffee", "chelsea")


def sample_photos(names: Sequence[str] = PHOTOS) -> dict[str, np.ndarray]:
    """Photos that ship inside scikit-image (no download): name -> (H, W, 3) uint8 RGB."""
    from skimage import data

    photos = {}
    for name in names:
        loader = getattr(data, name, None)
        if loader is None:
            raise ValueError(f"skimage.data has no image {name!r}")
        photos[name] = np.asarray(loader())[..., :3]
    return photos


def resize_for_model(image: np.ndarray | Tensor, cfg: BlendMaskConfig) -> Tensor:
    """``(3, h, w)`` float 0..1 for the model: a model that keeps the input size (``min_size_test``
    None, e.g. ``cpu_tiny``) gets the photo at its training scale (shorter side = the smallest
    ``min_size_train``); a model that resizes internally gets it unchanged."""
    tensor = TF.to_image(image) if isinstance(image, np.ndarray) else image
    tensor = TF.to_dtype(tensor, torch.float32, scale=True).as_subclass(Tensor)
    if cfg.min_size_test is None:
        tensor = TF.resize(tensor, [min(cfg.min_size_train)], antialias=True).clamp(0, 1)
    return tensor


__all__ = [
    "FALSE_POSITIVE",
    "MATCH",
    "MISS",
    "PHOTOS",
    "SMOKE_ENV",
    "AttentionTemplate",
    "BasisAblation",
    "BasisSemantics",
    "ImagePredictions",
    "InstanceMatch",
    "Pairing",
    "Inspection",
    "NotebookSettings",
    "Workspace",
    "attention_template",
    "basis_ablation",
    "basis_semantics",
    "direction_name",
    "ensure_checkpoint",
    "inspect_predictions",
    "match_instances",
    "mask_rles",
    "match_summary",
    "notebook_config",
    "notebook_settings",
    "resize_for_model",
    "sample_photos",
    "smoke_mode",
]
