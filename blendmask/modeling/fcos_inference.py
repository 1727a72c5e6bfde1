"""FCOS inference for one image: threshold, top-k per level, sqrt score, class-wise NMS, top N."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor
from torchvision.ops import batched_nms

from ..config import BlendMaskConfig


class Detections(NamedTuple):
    """Detections of one image in input (resized) pixels, sorted by score."""

    boxes: Tensor  # (D, 4) xyxy, clipped to the input size unless ``clip=False``
    scores: Tensor  # (D,) sqrt(cls * ctr)
    labels: Tensor  # (D,) int64
    attentions: Tensor | None  # (D, K*M*M) top-layer output at the detection's location


def detect_image(
    cls_logits: list[Tensor],
    box_reg: list[Tensor],
    centerness: list[Tensor],
    top_feats: list[Tensor] | None,
    points: list[Tensor],
    strides: tuple[int, ...],
    image_size: tuple[int, int],
    cfg: BlendMaskConfig,
    *,
    clip: bool = True,
) -> Detections:
    """Per level (C, H, W) / (4, H, W) / (1, H, W) / (KMM, H, W) outputs of one image -> Detections.

    ``points`` are the (H*W, 2) location centres per level; ``image_size`` (h, w) clips the boxes
    and drops empty ones before NMS; with ``clip=False`` NMS sees the raw boxes (AdelaiDet).
    """
    boxes, scores, labels, levels, locs = [], [], [], [], []
    for level, (cls, reg, ctr, pts, stride) in enumerate(
        zip(cls_logits, box_reg, centerness, points, strides, strict=True)
    ):
        prob = cls.flatten(1).t().sigmoid() * ctr.flatten(1).t().sigmoid()  # (HW, C)
        candidates = prob > cfg.fcos_score_thresh
        score = prob[candidates]
        loc, label = candidates.nonzero(as_tuple=True)
        if score.numel() > cfg.fcos_pre_nms_topk:
            score, keep = score.topk(cfg.fcos_pre_nms_topk)
            loc, label = loc[keep], label[keep]
        ltrb = reg.flatten(1)[:, loc].t() * stride  # (n, 4)
        xy = pts[loc]
        boxes.append(torch.cat([xy - ltrb[:, :2], xy + ltrb[:, 2:]], dim=1))
        scores.append(score)
        labels.append(label)
        levels.append(torch.full_like(loc, level))
        locs.append(loc)
    boxes_t, scores_t, labels_t = torch.cat(boxes), torch.cat(scores).sqrt(), torch.cat(labels)
    levels_t, locs_t = torch.cat(levels), torch.cat(locs)

    idx = torch.arange(len(boxes_t), device=boxes_t.device)
    if clip:
        h, w = image_size
        boxes_t[:, 0::2] = boxes_t[:, 0::2].clamp(0, w)
        boxes_t[:, 1::2] = boxes_t[:, 1::2].clamp(0, h)
        idx = idx[(boxes_t[:, 2] > boxes_t[:, 0]) & (boxes_t[:, 3] > boxes_t[:, 1])]
    keep = batched_nms(boxes_t[idx], scores_t[idx], labels_t[idx], cfg.fcos_nms_thresh)
    idx = idx[keep[: cfg.fcos_post_nms_topk]]

    attentions = None
    if top_feats is not None:
        attentions = boxes_t.new_empty((len(idx), top_feats[0].shape[0]))
        for level, feats in enumerate(top_feats):
            here = levels_t[idx] == level
            attentions[here] = feats.flatten(1)[:, locs_t[idx][here]].t()
    return Detections(boxes_t[idx], scores_t[idx], labels_t[idx], attentions)
