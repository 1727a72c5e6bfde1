"""BlendMask = backbone + FPN + FCOS head with top layer + bottom module + blender (paper Fig. 2).

Train mode: ``model(images, targets) -> dict`` of scalar losses.
Eval mode: ``model(images) -> list`` of per-image :class:`~blendmask.structures.Prediction` in the
original image size, with the intermediates the visualisation toolkit renders (see ``BlendMask.forward``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor, nn
from torchvision.transforms.v2 import functional as TF

from ..config import BlendMaskConfig
from ..structures import Prediction
from .backbone import BackboneFPN
from .basis import SemanticHead, build_bottom_module
from .blender import blend_steps, crop_bases
from .fcos import FCOSHead, HeadOutputs, flatten_levels
from .fcos_inference import Detections, detect_image
from .fcos_loss import fcos_losses
from .fcos_targets import Locations, assign_targets, make_locations
from .masks import mask_targets, paste_masks


def input_shape(height: int, width: int, min_size: int | None, max_size: int | None) -> tuple[int, int]:
    """Shorter side to ``min_size``, longer side at most ``max_size`` (None = keep the size).

    The arithmetic of detectron2's ``ResizeShortestEdge``.
    """
    if min_size is None:
        return height, width
    scale = min_size / min(height, width)
    new_h, new_w = (min_size, scale * width) if height < width else (scale * height, min_size)
    if max_size is not None and max(new_h, new_w) > max_size:
        scale = max_size / max(new_h, new_w)
        new_h, new_w = new_h * scale, new_w * scale
    return int(new_h + 0.5), int(new_w + 0.5)


def resize_image(image: Tensor, size: tuple[int, int], mode: str) -> Tensor:
    """(3, H, W) 0..1 -> (3, h, w): ``"tensor"`` antialiased resize on floats, ``"pil"`` PIL
    bilinear on the image quantised to uint8 (detectron2's ``ResizeTransform``)."""
    if tuple(image.shape[-2:]) == tuple(size) and mode == "tensor":
        return image
    if mode == "tensor":
        return TF.resize(image, list(size), antialias=True)
    as_uint8 = (image * 255).round().clamp(0, 255).to(torch.uint8).cpu()
    resized = TF.to_image(TF.to_pil_image(as_uint8).resize((size[1], size[0]), Image.BILINEAR))
    return resized.to(image.device, image.dtype) / 255.0


class BlendMask(nn.Module):
    """The BlendMask instance segmenter configured by a :class:`BlendMaskConfig`."""

    def __init__(self, cfg: BlendMaskConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.backbone = BackboneFPN(cfg)
        self.head = FCOSHead(cfg, cfg.fpn_channels)
        channels = {
            **self.backbone.body.out_channels,
            "p3": cfg.fpn_channels,
            "p4": cfg.fpn_channels,
            "p5": cfg.fpn_channels,
        }
        self.bottom = build_bottom_module(cfg, channels)
        self.sem_head = SemanticHead(cfg, cfg.fpn_channels) if cfg.sem_loss else None
        self.register_buffer("pixel_mean", torch.tensor(cfg.pixel_mean).view(3, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(cfg.pixel_std).view(3, 1, 1), persistent=False)
        self.return_intermediates = cfg.return_intermediates
        self.inference_dtype: torch.dtype | None = None  # autocast dtype of the feature networks in predict

    # ------------------------------------------------------------------ input
    def preprocess(self, images: list[Tensor]) -> tuple[Tensor, list[tuple[int, int]]]:
        """List of (3, H_i, W_i) RGB in 0..1 -> normalised batch (N, 3, H, W) padded to the size
        divisibility with zeros, and the unpadded sizes."""
        if not isinstance(images, (list, tuple)) or len(images) == 0:
            raise ValueError("images must be a non-empty list of (3, H, W) float tensors")
        for i, img in enumerate(images):
            if img.dim() != 3 or img.shape[0] != 3 or not img.is_floating_point():
                raise ValueError(
                    f"images[{i}] must be a float (3, H, W) tensor in 0..1 RGB, got "
                    f"{img.dtype} {tuple(img.shape)}"
                )
        sizes = [(int(img.shape[1]), int(img.shape[2])) for img in images]
        div = self.cfg.size_divisibility
        height = math.ceil(max(h for h, _ in sizes) / div) * div
        width = math.ceil(max(w for _, w in sizes) / div) * div
        batch = self.pixel_mean.new_zeros((len(images), 3, height, width))
        for i, img in enumerate(images):
            img = img.to(self.pixel_mean)
            if self.cfg.input_format == "BGR":
                img = img.flip(0)
            batch[i, :, : img.shape[1], : img.shape[2]] = (img * 255.0 - self.pixel_mean) / self.pixel_std
        return batch, sizes

    def _run(self, batch: Tensor) -> tuple[dict[str, Tensor], HeadOutputs, Tensor, Locations]:
        c_feats, p_feats = self.backbone(batch)
        levels = list(p_feats.values())
        outputs = self.head(levels)
        bases = self.bottom(c_feats, p_feats)
        locations = make_locations(
            [tuple(f.shape[-2:]) for f in levels],
            self.cfg.fpn_strides,
            self.cfg.fcos_sizes_of_interest,
            device=batch.device,
        )
        return p_feats, outputs, bases, locations

    def _run_features(self, batch: Tensor) -> tuple[HeadOutputs, Tensor, Locations]:
        """``_run`` for inference: the feature networks under ``inference_dtype`` autocast (if set),
        their outputs back in float32 for post-processing, blending and pasting."""
        dtype = self.inference_dtype
        if dtype is None:
            _, outputs, bases, locations = self._run(batch)
            return outputs, bases, locations
        with torch.autocast(batch.device.type, dtype=dtype):
            _, outputs, bases, locations = self._run(batch)
        outputs = HeadOutputs(*[None if xs is None else [x.float() for x in xs] for xs in outputs])
        return outputs, bases.float(), locations

    # ------------------------------------------------------------------ forward
    def forward(
        self, images: list[Tensor], targets: list[dict[str, Tensor]] | None = None
    ) -> dict[str, Tensor] | list[Prediction]:
        """Train: (images, targets) -> dict of scalar losses. Eval: images -> one Prediction per image.

        A :class:`Prediction` has ``boxes`` (D, 4) xyxy, ``scores`` (D,), ``labels`` (D,) int64 and
        ``masks`` (D, H, W) bool, all in the original image size; with ``return_intermediates``
        also ``bases`` (K, h, w) cropped to the unpadded input, ``input_boxes`` (D, 4) in input
        pixels, ``attentions`` (D, K, M, M) pre-softmax (None for the assembler), ``rois``
        (D, K, R, R), ``mask_logits`` (D, R, R), ``image_size`` (H, W), ``input_size`` (h, w),
        ``scale`` (sy, sx) = input / original and ``blend_args`` (the :class:`BlendSettings` of ``blend``).
        """
        if self.training:
            if targets is None:
                raise ValueError("BlendMask in train mode needs targets; call model.eval() for predictions")
            return self.losses(images, targets)
        return self.predict(images)

    # ------------------------------------------------------------------ training
    def losses(self, images: list[Tensor], targets: list[dict[str, Tensor]]) -> dict[str, Tensor]:
        """Scalar losses loss_cls, loss_box, loss_ctr, loss_mask (+ loss_sem) for one batch."""
        cfg = self.cfg
        if len(targets) != len(images):
            raise ValueError(f"got {len(images)} images but {len(targets)} targets")
        batch, sizes = self.preprocess(images)
        targets = [
            self._check_target(t, size, i) for i, (t, size) in enumerate(zip(targets, sizes, strict=True))
        ]
        p_feats, outputs, bases, locations = self._run(batch)

        assigned = [
            assign_targets(
                locations,
                t["boxes"],
                t["labels"],
                num_classes=cfg.num_classes,
                center_sample_radius=cfg.fcos_center_sample_radius,
            )
            for t in targets
        ]
        labels = torch.stack([a.labels for a in assigned])
        fcos = fcos_losses(
            flatten_levels(outputs.cls_logits),
            flatten_levels(outputs.box_reg),
            flatten_levels(outputs.centerness),
            labels,
            torch.stack([a.reg_targets for a in assigned]),
            locations.strides,
            cfg,
        )
        losses = dict(fcos.losses)
        gt_inds = torch.stack([a.gt_inds for a in assigned])
        losses["loss_mask"] = cfg.mask_loss_weight * self._mask_loss(
            bases, outputs.top_feats, targets, fcos.positive, gt_inds, fcos.ctr_targets
        )
        if self.sem_head is not None:
            losses["loss_sem"] = cfg.sem_loss_weight * self._sem_loss(
                p_feats["p3"], targets, batch.shape[-2:]
            )
        return losses

    def _check_target(self, target: dict[str, Tensor], size: tuple[int, int], i: int) -> dict[str, Tensor]:
        for key in ("boxes", "labels", "masks"):
            if key not in target:
                raise ValueError(f"targets[{i}] has no {key!r} (needs boxes, labels, masks)")
        device = self.pixel_mean.device
        boxes = target["boxes"].to(device=device, dtype=torch.float32).reshape(-1, 4)
        labels = target["labels"].to(device=device, dtype=torch.int64).reshape(-1)
        masks = target["masks"].to(device=device, dtype=torch.bool)
        n = boxes.shape[0]
        if labels.shape[0] != n or masks.shape[0] != n:
            raise ValueError(f"targets[{i}]: {n} boxes, {labels.shape[0]} labels, {masks.shape[0]} masks")
        if masks.dim() != 3 or tuple(masks.shape[1:]) != size:
            raise ValueError(
                f"targets[{i}]['masks'] must be (N, {size[0]}, {size[1]}) like its image, "
                f"got {tuple(masks.shape)}"
            )
        if n and (labels.min() < 0 or labels.max() >= self.cfg.num_classes):
            raise ValueError(
                f"targets[{i}]['labels'] must be in 0..{self.cfg.num_classes - 1}, got "
                f"{labels.min().item()}..{labels.max().item()}"
            )
        return dict(boxes=boxes, labels=labels, masks=masks)

    def _sample_positives(self, positive: Tensor) -> Tensor:
        """Apply ``max_positives_per_image``: (N, A) bool -> (N, A) bool with a random subset kept."""
        cap = self.cfg.max_positives_per_image
        if cap is None:
            return positive
        kept = torch.zeros_like(positive)
        for i, row in enumerate(positive):
            idx = row.nonzero(as_tuple=True)[0]
            if len(idx) > cap:
                idx = idx[torch.randperm(len(idx), device=idx.device)[:cap]]
            kept[i, idx] = True
        return kept

    def _mask_loss(
        self,
        bases: Tensor,
        top_feats: list[Tensor] | None,
        targets: list[dict[str, Tensor]],
        positive: Tensor,
        gt_inds: Tensor,
        ctr_targets: Tensor,
    ) -> Tensor:
        """BCE of blended masks against GT masks, GT box as proposal, weighted by centerness targets.

        Each positive location predicts the mask of its assigned GT; the per-location loss (mean
        over R x R) is weighted by its centerness target and normalised by their sum.
        """
        cfg = self.cfg
        zero = bases.sum() * 0
        if top_feats is not None:
            zero = zero + sum(t.sum() for t in top_feats) * 0
        if not positive.any():
            return zero
        kept = self._sample_positives(positive)
        ctr_targets = ctr_targets[kept[positive]]
        offsets = torch.tensor([0] + [len(t["boxes"]) for t in targets], device=bases.device).cumsum(0)[:-1]
        global_gt = (gt_inds + offsets[:, None])[kept]  # (P,)

        rois = crop_bases(
            bases,
            [t["boxes"] for t in targets],
            resolution=cfg.bottom_resolution,
            stride=cfg.bases_stride,
            pooler=cfg.pooler,
        )[global_gt]  # (P, K, R, R)
        gt_masks = torch.cat([mask_targets(t["masks"], t["boxes"], cfg.bottom_resolution) for t in targets])
        attentions = None
        if top_feats is not None:
            attentions = flatten_levels(top_feats)[kept].view(-1, cfg.num_bases, cfg.attn_size, cfg.attn_size)
        logits = blend_steps(
            rois, attentions, method=cfg.method, attn_size=cfg.attn_size, top_interp=cfg.top_interp
        ).logits
        per_loc = F.binary_cross_entropy_with_logits(logits, gt_masks[global_gt], reduction="none").mean(
            dim=(1, 2)
        )
        return (per_loc * ctr_targets).sum() / ctr_targets.sum().clamp_min(1e-6)

    def _sem_loss(self, p3: Tensor, targets: list[dict[str, Tensor]], padded: tuple[int, int]) -> Tensor:
        """Cross-entropy of the semantic head on P3 against the thing-class map (0 = background)
        downsampled by nearest to P3's stride."""
        sem = torch.zeros((len(targets), *padded), dtype=torch.int64, device=p3.device)
        for i, t in enumerate(targets):
            h, w = t["masks"].shape[1:]
            for mask, label in zip(t["masks"], t["labels"], strict=True):
                sem[i, :h, :w][mask] = label + 1
        sem = F.interpolate(sem[:, None].float(), size=p3.shape[-2:], mode="nearest")[:, 0].long()
        return F.cross_entropy(self.sem_head(p3), sem)

    # ------------------------------------------------------------------ inference
    @torch.no_grad()
    def predict(self, images: list[Tensor]) -> list[Prediction]:
        """Resize each image to (min_size_test, max_size_test), detect, blend and paste (see ``forward``)."""
        cfg = self.cfg
        originals = [(int(img.shape[-2]), int(img.shape[-1])) for img in images]
        resized = []
        for img, (h, w) in zip(images, originals, strict=True):
            size = input_shape(h, w, cfg.min_size_test, cfg.max_size_test)
            resized.append(resize_image(img, size, cfg.resize_mode))
        batch, sizes = self.preprocess(resized)
        outputs, bases, locations = self._run_features(batch)
        points = list(locations.points.split(locations.level_sizes))
        results = []
        for i, (input_size, image_size) in enumerate(zip(sizes, originals, strict=True)):
            dets = detect_image(
                [x[i] for x in outputs.cls_logits],
                [x[i] for x in outputs.box_reg],
                [x[i] for x in outputs.centerness],
                None if outputs.top_feats is None else [x[i] for x in outputs.top_feats],
                points,
                cfg.fpn_strides,
                input_size,
                cfg,
                clip=cfg.postprocess == "clip_first",
            )
            results.append(self._finish(dets, bases[i], input_size, image_size))
        return results

    def _finish(
        self, dets: Detections, bases: Tensor, input_size: tuple[int, int], image_size: tuple[int, int]
    ) -> Prediction:
        """Blend one image's detections and paste masks at original size.

        ``clip_first``: blend on the image's own (unpadded) bases. ``detectron2``: blend on the
        padded bases, then scale and clip the boxes, drop empty ones and paste into the clipped box.
        """
        cfg = self.cfg
        stride = cfg.bases_stride
        unpadded = bases[:, : math.ceil(input_size[0] / stride), : math.ceil(input_size[1] / stride)]
        attentions = None
        if dets.attentions is not None:
            attentions = dets.attentions.view(-1, cfg.num_bases, cfg.attn_size, cfg.attn_size)
        rois = crop_bases(
            (bases if cfg.postprocess == "detectron2" else unpadded)[None],
            [dets.boxes],
            resolution=cfg.bottom_resolution,
            stride=stride,
            pooler=cfg.pooler,
        )
        logits = blend_steps(
            rois, attentions, method=cfg.method, attn_size=cfg.attn_size, top_interp=cfg.top_interp
        ).logits
        scale = (input_size[0] / image_size[0], input_size[1] / image_size[1])
        boxes = dets.boxes / dets.boxes.new_tensor([scale[1], scale[0], scale[1], scale[0]])
        boxes[:, 0::2] = boxes[:, 0::2].clamp(0, image_size[1])
        boxes[:, 1::2] = boxes[:, 1::2].clamp(0, image_size[0])
        keep = torch.arange(len(boxes), device=boxes.device)
        if cfg.postprocess == "detectron2":
            keep = keep[(boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])]
        boxes, rois, logits = boxes[keep], rois[keep], logits[keep]
        intermediates = {}
        if self.return_intermediates:
            intermediates = dict(
                bases=unpadded,
                input_boxes=dets.boxes[keep],
                attentions=None if attentions is None else attentions[keep],
                rois=rois,
                mask_logits=logits,
                image_size=image_size,
                input_size=input_size,
                scale=scale,
                blend_args=cfg.blend_args,
            )
        return Prediction(
            boxes=boxes,
            scores=dets.scores[keep],
            labels=dets.labels[keep],
            masks=paste_masks(logits.sigmoid(), boxes, image_size, cfg.mask_threshold),
            **intermediates,
        )
