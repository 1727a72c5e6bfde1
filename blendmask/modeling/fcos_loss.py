"""FCOS losses: focal classification, GIoU box and centerness BCE (torchvision.ops)."""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor
from torchvision.ops import generalized_box_iou_loss, sigmoid_focal_loss

from ..config import BlendMaskConfig
from .fcos_targets import centerness_targets


class FCOSLosses(NamedTuple):
    losses: dict[str, Tensor]  # loss_cls, loss_box, loss_ctr
    positive: Tensor  # (N, A) bool
    ctr_targets: Tensor  # (P,) centerness targets at the positives, in (N, A) row-major order


def _ltrb_to_boxes(ltrb: Tensor) -> Tensor:
    """Distances (P, 4) from a common point -> boxes (P, 4) xyxy around the origin."""
    return torch.stack([-ltrb[:, 0], -ltrb[:, 1], ltrb[:, 2], ltrb[:, 3]], dim=1)


def all_reduce_mean(value: Tensor) -> Tensor:
    """Mean of a detached tensor over the ranks (itself when not distributed)."""
    if not (dist.is_available() and dist.is_initialized()):
        return value
    value = value.detach().clone()
    dist.all_reduce(value)
    return value / dist.get_world_size()


def giou_plus_one_loss(pred: Tensor, target: Tensor) -> Tensor:
    """AdelaiDet's GIoU loss on distances (P, 4) l, t, r, b: 1 - GIoU with IoU = (I + 1) / (U + 1)."""
    pred_area = (pred[:, 0] + pred[:, 2]) * (pred[:, 1] + pred[:, 3])
    target_area = (target[:, 0] + target[:, 2]) * (target[:, 1] + target[:, 3])
    lo, hi = torch.minimum(pred, target), torch.maximum(pred, target)
    inter = (lo[:, 0] + lo[:, 2]) * (lo[:, 1] + lo[:, 3])
    enclosing = ((hi[:, 0] + hi[:, 2]) * (hi[:, 1] + hi[:, 3])).clamp_min(1e-7)
    union = pred_area + target_area - inter
    iou = (inter + 1.0) / (union + 1.0)
    return 1.0 - (iou - (enclosing - union) / enclosing)


def fcos_losses(
    cls_logits: Tensor,
    box_reg: Tensor,
    centerness: Tensor,
    labels: Tensor,
    reg_targets: Tensor,
    strides: Tensor,
    cfg: BlendMaskConfig,
) -> FCOSLosses:
    """Losses over a batch.

    cls_logits (N, A, C); box_reg (N, A, 4) in stride units; centerness (N, A, 1) logits;
    labels (N, A) with C = background; reg_targets (N, A, 4) px; strides (A,).
    Focal and centerness losses are normalised by the number of positives, the GIoU loss is
    weighted by the centerness target and normalised by its sum; both normalisers are averaged
    over the ranks under DDP (AdelaiDet). The losses are computed in float32 also under
    mixed-precision autocast.
    """
    cls_logits, box_reg, centerness = cls_logits.float(), box_reg.float(), centerness.float()
    num_classes = cls_logits.shape[-1]
    positive = labels != num_classes
    num_pos = positive.sum()
    num_pos_avg = all_reduce_mean(num_pos.to(cls_logits.dtype)).clamp_min(1)

    onehot = F.one_hot(labels, num_classes + 1)[..., :num_classes].to(cls_logits.dtype)
    loss_cls = (
        sigmoid_focal_loss(
            cls_logits, onehot, alpha=cfg.fcos_focal_alpha, gamma=cfg.fcos_focal_gamma, reduction="sum"
        )
        / num_pos_avg
    )

    stride_map = strides[None, :, None].expand_as(reg_targets)
    pos_reg_targets = (reg_targets / stride_map)[positive]  # (P, 4) stride units
    pos_reg = box_reg[positive]
    pos_ctr = centerness[..., 0][positive]
    ctr_targets = centerness_targets(pos_reg_targets)
    denorm = all_reduce_mean(ctr_targets.sum().detach()).clamp_min(1e-6)  # every rank, also without positives
    if num_pos == 0:
        zero = box_reg.sum() * 0 + centerness.sum() * 0
        return FCOSLosses(dict(loss_cls=loss_cls, loss_box=zero, loss_ctr=zero), positive, ctr_targets)
    if cfg.fcos_giou_plus_one:
        giou = giou_plus_one_loss(pos_reg, pos_reg_targets)
    else:
        giou = generalized_box_iou_loss(
            _ltrb_to_boxes(pos_reg), _ltrb_to_boxes(pos_reg_targets), reduction="none"
        )
    loss_box = (giou * ctr_targets).sum() / denorm
    loss_ctr = F.binary_cross_entropy_with_logits(pos_ctr, ctr_targets, reduction="sum") / num_pos_avg
    return FCOSLosses(dict(loss_cls=loss_cls, loss_box=loss_box, loss_ctr=loss_ctr), positive, ctr_targets)
