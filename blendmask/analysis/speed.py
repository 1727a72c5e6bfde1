"""Side-by-side inference speed: BlendMask against torchvision's Mask R-CNN R50-FPN, stage by stage.

Both models have random weights (nothing is downloaded) and see the same random ``size`` x ``size``
image. The number of detections is forced to D: BlendMask keeps every FCOS candidate
(``fcos_score_thresh=0``) and the top D after NMS; Mask R-CNN keeps every box-head score
(``box_score_thresh=0``) and the top D (``box_detections_per_img=D``). Stages:

    BlendMask    backbone_fpn | heads (FCOS towers + top layer) | detect (candidates, NMS)
                 | bottom (bases) | blender (RoIAlign on bases + attention blend) | paste
    Mask R-CNN   backbone_fpn | rpn | box_head (RoIAlign + box head + NMS)
                 | mask_head (RoIAlign + mask head) | paste

``backbone_fpn`` includes the input normalisation. The *mask stage* of the paper's comparison is
blender + paste against mask_head + paste. Every number is the median over ``repeats`` runs after
one warm-up, as wall and process-CPU seconds; on CUDA each stage boundary synchronises.
"""

from __future__ import annotations

import math
import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from typing import Any

import torch
from torch import Tensor
from tqdm.auto import tqdm

from ..config import BlendMaskConfig
from ..engine.inference import inference_dtype, prepare_for_inference
from ..modeling.blender import blend_steps, crop_bases
from ..modeling.blendmask import BlendMask
from ..modeling.fcos import HeadOutputs
from ..modeling.fcos_inference import detect_image
from ..modeling.fcos_targets import make_locations
from ..modeling.masks import paste_masks

BLENDMASK_STAGES = ("backbone_fpn", "heads", "detect", "bottom", "blender", "paste")
MASKRCNN_STAGES = ("backbone_fpn", "rpn", "box_head", "mask_head", "paste")
MASK_STAGE = {"blendmask": ("blender", "paste"), "maskrcnn": ("mask_head", "paste")}
# The paper's speed numbers (ms per image on one GPU, batch 1) with COCO mask AP. Table 8: 1x
# schedule, test-dev, 1080Ti, maskrcnn_benchmark; Table 9: real-time setting (shorter side 550),
# val2017, Detectron2. §4.3: "a typical running time of our blender module is merely 0.6ms".
PAPER_SPEED = (
    dict(table=8, model="Mask R-CNN", backbone="R-50", ms=97.0, mask_ap=34.6),
    dict(table=8, model="BlendMask", backbone="R-50", ms=78.5, mask_ap=34.3),
    dict(table=9, model="Mask R-CNN (550)", backbone="R-50", ms=63.4, mask_ap=35.3),
    dict(table=9, model="BlendMask-RT (550)", backbone="R-50", ms=36.0, mask_ap=35.1),
    dict(table=9, model="BlendMask-RT (550)", backbone="R-101", ms=47.6, mask_ap=36.8),
)
PAPER_BLENDER_MS = 0.6


class StageClock:
    """Wall and process-CPU seconds per named stage; synchronises CUDA around every stage."""

    def __init__(self, device: torch.device) -> None:
        self.sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
        self.wall: dict[str, float] = defaultdict(float)
        self.cpu: dict[str, float] = defaultdict(float)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        self.sync()
        wall, cpu = time.perf_counter(), time.process_time()
        yield
        self.sync()
        self.wall[name] += time.perf_counter() - wall
        self.cpu[name] += time.process_time() - cpu


def build_blendmask(
    preset: str, detections: int, *, size: int, precision: str = "float32", device: str = "cpu"
) -> BlendMask:
    """A random-weight BlendMask ``preset`` (80 classes) predicting exactly the top ``detections``
    at ``size`` px, with its inference ``precision`` set (see :mod:`blendmask.engine.inference`)."""
    cfg = BlendMaskConfig.from_preset(
        preset,
        num_classes=80,
        min_size_test=size,
        max_size_test=size,
        fcos_score_thresh=0.0,
        fcos_post_nms_topk=detections,
        return_intermediates=False,
    )
    return prepare_for_inference(BlendMask(cfg).eval().to(device), precision)


def build_maskrcnn(
    detections: int, *, size: int, proposals: int = 1000, device: str = "cpu"
) -> torch.nn.Module:
    """torchvision's ``maskrcnn_resnet50_fpn`` with random weights, keeping the top ``detections``
    of the box head's ``proposals`` RPN proposals (torchvision's default 1000)."""
    from torchvision.models.detection import maskrcnn_resnet50_fpn

    model = maskrcnn_resnet50_fpn(
        weights=None,
        weights_backbone=None,
        min_size=size,
        max_size=size,
        box_score_thresh=0.0,
        box_detections_per_img=detections,
        rpn_post_nms_top_n_test=proposals,
    )
    return model.eval().to(device)


def blendmask_stages(model: BlendMask, image: Tensor, clock: StageClock) -> int:
    """One image through ``model.predict``'s steps, each timed by ``clock``; returns D."""
    cfg = model.cfg
    dtype = model.inference_dtype
    autocast = torch.autocast(image.device.type, dtype=dtype) if dtype else nullcontext()
    with clock.stage("backbone_fpn"), autocast:
        batch, sizes = model.preprocess([image])
        c_feats, p_feats = model.backbone(batch)
    levels = list(p_feats.values())
    with clock.stage("heads"), autocast:
        outputs = model.head(levels)
        outputs = HeadOutputs(*[None if xs is None else [x.float() for x in xs] for xs in outputs])
    with clock.stage("detect"):
        locations = make_locations(
            [tuple(f.shape[-2:]) for f in levels],
            cfg.fpn_strides,
            cfg.fcos_sizes_of_interest,
            device=batch.device,
        )
        points = list(locations.points.split(locations.level_sizes))
        dets = detect_image(
            [x[0] for x in outputs.cls_logits],
            [x[0] for x in outputs.box_reg],
            [x[0] for x in outputs.centerness],
            None if outputs.top_feats is None else [x[0] for x in outputs.top_feats],
            points,
            cfg.fpn_strides,
            sizes[0],
            cfg,
        )
    with clock.stage("bottom"), autocast:
        bases = model.bottom(c_feats, p_feats).float()
    with clock.stage("blender"):
        stride = cfg.bases_stride
        bases = bases[0, :, : math.ceil(sizes[0][0] / stride), : math.ceil(sizes[0][1] / stride)]
        attentions = None
        if dets.attentions is not None:
            attentions = dets.attentions.view(-1, cfg.num_bases, cfg.attn_size, cfg.attn_size)
        rois = crop_bases(bases[None], [dets.boxes], resolution=cfg.bottom_resolution, stride=stride)
        logits = blend_steps(rois, attentions, method=cfg.method, attn_size=cfg.attn_size).logits
    with clock.stage("paste"):
        paste_masks(logits.sigmoid(), dets.boxes, sizes[0], cfg.mask_threshold)
    return int(dets.boxes.shape[0])


def maskrcnn_stages(model: torch.nn.Module, image: Tensor, clock: StageClock) -> int:
    """One image through torchvision ``MaskRCNN.forward``'s steps (eval), each timed; returns D."""
    from torchvision.models.detection.roi_heads import maskrcnn_inference

    heads = model.roi_heads
    original = [tuple(image.shape[-2:])]
    with clock.stage("backbone_fpn"):
        images, _ = model.transform([image])
        features = model.backbone(images.tensors)
    with clock.stage("rpn"):
        proposals, _ = model.rpn(images, features)
    with clock.stage("box_head"):
        box_feats = heads.box_head(heads.box_roi_pool(features, proposals, images.image_sizes))
        class_logits, box_regression = heads.box_predictor(box_feats)
        boxes, scores, labels = heads.postprocess_detections(
            class_logits, box_regression, proposals, images.image_sizes
        )
    with clock.stage("mask_head"):
        mask_feats = heads.mask_head(heads.mask_roi_pool(features, boxes, images.image_sizes))
        probs = maskrcnn_inference(heads.mask_predictor(mask_feats), labels)
    with clock.stage("paste"):
        results = [
            dict(boxes=b, scores=s, labels=c, masks=m)
            for b, s, c, m in zip(boxes, scores, labels, probs, strict=True)
        ]
        results = model.transform.postprocess(results, images.image_sizes, original)
    return int(results[0]["boxes"].shape[0])


def _median(values: Sequence[float]) -> float:
    return round(statistics.median(values), 5)


def time_model(
    model: torch.nn.Module,
    staged: Callable[[torch.nn.Module, Tensor, StageClock], int],
    image: Tensor,
    *,
    repeats: int,
    warmup: int = 1,
) -> dict[str, Any]:
    """Median end-to-end (``model([image])``) and per-stage (``staged``) seconds of one image ->
    ``{"end_to_end": {"wall_s", "cpu_s"}, "stages": {name: {...}}, "stage_sum_wall_s", "detections"}``."""
    clock_device = image.device
    with torch.inference_mode():
        for _ in range(warmup):
            model([image])
            staged(model, image, StageClock(clock_device))
        wall, cpu, clocks, counts = [], [], [], []
        for _ in range(repeats):
            run = StageClock(clock_device)
            with run.stage("end_to_end"):
                model([image])
            wall.append(run.wall["end_to_end"])
            cpu.append(run.cpu["end_to_end"])
            clock = StageClock(clock_device)
            counts.append(staged(model, image, clock))
            clocks.append(clock)
    stages = {
        name: {
            "wall_s": _median([c.wall[name] for c in clocks]),
            "cpu_s": _median([c.cpu[name] for c in clocks]),
        }
        for name in clocks[0].wall
    }
    return {
        "end_to_end": {"wall_s": _median(wall), "cpu_s": _median(cpu)},
        "stages": stages,
        "stage_sum_wall_s": round(sum(s["wall_s"] for s in stages.values()), 5),
        "detections": min(counts),
    }


def compare_speed(
    preset: str = "R_50_1x",
    *,
    size: int = 512,
    detections: Sequence[int] = (10, 50, 100, 200),
    repeats: int = 5,
    threads: int | None = 2,
    device: str = "cpu",
    fast_precision: str | None = "auto",
    maskrcnn_proposals: int = 1000,
    progress: bool = False,
) -> dict[str, Any]:
    """Time BlendMask ``preset`` (float32, and with ``fast_precision`` unless None) and torchvision
    Mask R-CNN at every D of ``detections`` -> JSON-able dict (see the module doc).
    ``maskrcnn_proposals`` below 1000 makes a quick run cheaper (not the paper's setting).

    ``{"settings": {...}, "models": {"blendmask" | "blendmask_fast" | "maskrcnn": {str(D): time_model
    result}}, "ratios": {str(D): {"end_to_end", "mask_stage"}}}``; ratios are BlendMask / Mask R-CNN
    wall seconds (float32 both).
    """
    if threads is not None:
        torch.set_num_threads(threads)
    torch.manual_seed(0)
    image = torch.rand(3, size, size, generator=torch.Generator().manual_seed(0)).to(device)
    fast_dtype = inference_dtype(fast_precision, device) if fast_precision else None
    builders: dict[str, Callable[[int], torch.nn.Module]] = {
        "blendmask": lambda d: build_blendmask(preset, d, size=size, device=device),
        "maskrcnn": lambda d: build_maskrcnn(d, size=size, proposals=maskrcnn_proposals, device=device),
    }
    if fast_dtype is not None:
        builders["blendmask_fast"] = lambda d: build_blendmask(
            preset, d, size=size, precision=fast_precision, device=device
        )
    staged = {"blendmask": blendmask_stages, "blendmask_fast": blendmask_stages, "maskrcnn": maskrcnn_stages}
    models: dict[str, dict[str, Any]] = {name: {} for name in builders}
    jobs = [(name, d) for d in detections for name in builders]
    for name, d in tqdm(jobs, desc="speed", disable=not progress):
        torch.manual_seed(0)
        models[name][str(d)] = time_model(builders[name](d), staged[name], image, repeats=repeats)
    ratios = {}
    for d in map(str, detections):
        bm, mr = models["blendmask"][d], models["maskrcnn"][d]
        ratios[d] = {
            "end_to_end": round(bm["end_to_end"]["wall_s"] / mr["end_to_end"]["wall_s"], 3),
            "mask_stage": round(mask_stage_seconds(bm, "blendmask") / mask_stage_seconds(mr, "maskrcnn"), 3),
        }
    settings = dict(
        preset=preset,
        size=size,
        detections=list(detections),
        repeats=repeats,
        threads=torch.get_num_threads(),
        device=device,
        fast_precision=None if fast_dtype is None else str(fast_dtype).removeprefix("torch."),
        maskrcnn_proposals=maskrcnn_proposals,
    )
    return {"settings": settings, "models": models, "ratios": ratios}


def mask_stage_seconds(result: dict[str, Any], model: str) -> float:
    """Wall seconds of the per-instance mask stage (:data:`MASK_STAGE`) of one ``time_model`` result."""
    key = "maskrcnn" if model == "maskrcnn" else "blendmask"
    return sum(result["stages"][name]["wall_s"] for name in MASK_STAGE[key])


def summary_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per D of a :func:`compare_speed` result: end-to-end and mask-stage wall seconds of
    both models, their ratios and (when measured) the fast path's end-to-end seconds."""
    models = result["models"]
    rows = []
    for d in map(str, result["settings"]["detections"]):
        bm, mr = models["blendmask"][d], models["maskrcnn"][d]
        row = {
            "D": int(d),
            "blendmask_s": bm["end_to_end"]["wall_s"],
            "maskrcnn_s": mr["end_to_end"]["wall_s"],
            "ratio": result["ratios"][d]["end_to_end"],
            "blendmask_mask_stage_s": round(mask_stage_seconds(bm, "blendmask"), 5),
            "maskrcnn_mask_stage_s": round(mask_stage_seconds(mr, "maskrcnn"), 5),
            "mask_stage_ratio": result["ratios"][d]["mask_stage"],
        }
        if "blendmask_fast" in models:
            row["blendmask_fast_s"] = models["blendmask_fast"][d]["end_to_end"]["wall_s"]
        rows.append(row)
    return rows


def format_summary(result: dict[str, Any]) -> str:
    """:func:`summary_rows` as a text table (seconds, milliseconds for the mask stage)."""
    rows = summary_rows(result)
    fast = "blendmask_fast_s" in rows[0]
    head = (
        f"{'D':>4} {'BlendMask s':>12} {'Mask R-CNN s':>13} {'ratio':>6} {'mask stage ms':>18} {'ratio':>6}"
    )
    lines = [head + (f" {'fast path s':>12}" if fast else "")]
    for r in rows:
        stage = f"{1000 * r['blendmask_mask_stage_s']:.1f} / {1000 * r['maskrcnn_mask_stage_s']:.0f}"
        line = (
            f"{r['D']:>4} {r['blendmask_s']:>12.3f} {r['maskrcnn_s']:>13.3f} {r['ratio']:>6.2f} "
            f"{stage:>18} {r['mask_stage_ratio']:>6.3f}"
        )
        lines.append(line + (f" {r['blendmask_fast_s']:>12.3f}" if fast else ""))
    return "\n".join(lines)


def format_paper() -> str:
    """The paper's speed numbers (:data:`PAPER_SPEED`) as a text table."""
    lines = [f"{'table':>5}  {'model':<20} {'backbone':<8} {'ms':>6} {'mask AP':>8}"]
    for row in PAPER_SPEED:
        name = f"{row['model']:<20} {row['backbone']:<8}"
        lines.append(f"{row['table']:>5}  {name} {row['ms']:>6.1f} {row['mask_ap']:>8.1f}")
    return "\n".join(lines)
