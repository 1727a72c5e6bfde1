"""The blender: BlendMask's merging of bottom-level bases with top-level attentions (paper §3.2).

For every detection d with box p_d (input pixels):
    r_d = RoIPool(bases, p_d)                      (K, R, R)   cropped bases
    a_d = interpolate(attention_d, R)              (K, R, R)
    s_d = softmax_K(a_d)                           (K, R, R)   blending weights
    m_d = sum_k s_d^k * r_d^k                      (R, R)      mask logits

The two merging baselines of the paper's Table 1 are special cases: ``weighted_sum`` (YOLACT) is
the blender with M = 1; ``assembler`` (FCIS) uses K = M*M bases and a fixed one-hot attention
in which tile (i, j) of the region takes base i*M + j. With K = 1 the paper uses sigmoid on both
base and attention; the product is then a probability, returned here as its logit so that every
method yields mask logits.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor
from torchvision.ops import roi_align, roi_pool

from ..config import INTERPOLATIONS, METHODS, POOLERS


class BlendSteps(NamedTuple):
    """Every intermediate of the blender for D detections (the numbers behind the paper's Fig. 1)."""

    rois: Tensor  # (D, K, R, R) cropped bases
    weights: Tensor  # (D, K, R, R) attention after interpolation and softmax (sigmoid if K = 1)
    products: Tensor  # (D, K, R, R) weights * rois (sigmoid(rois) * weights if K = 1)
    logits: Tensor  # (D, R, R) mask logits


def crop_bases(
    bases: Tensor, boxes: list[Tensor] | Tensor, *, resolution: int, stride: int, pooler: str = "bilinear"
) -> Tensor:
    """Crop every box out of its image's bases.

    bases (N, K, H, W) at ``stride``; boxes: list of N tensors (D_i, 4) xyxy in input pixels, or a
    (ΣD_i, 5) tensor whose first column is the batch index. Returns (ΣD_i, K, R, R).
    """
    if pooler not in POOLERS:
        raise ValueError(f"pooler must be one of {POOLERS}, got {pooler!r}")
    if isinstance(boxes, list):
        boxes = [b.to(bases.dtype) for b in boxes]
    else:
        boxes = boxes.to(bases.dtype)
    if pooler == "bilinear":
        return roi_align(
            bases, boxes, output_size=resolution, spatial_scale=1.0 / stride, sampling_ratio=1, aligned=True
        )
    return roi_pool(bases, boxes, output_size=resolution, spatial_scale=1.0 / stride)


def attention_weights(attentions: Tensor, *, resolution: int, top_interp: str = "bilinear") -> Tensor:
    """Top-level attentions (D, K, M, M) -> blending weights (D, K, R, R).

    Interpolated to R x R, then soft-maxed over K; with K = 1 a sigmoid replaces the softmax.
    """
    if top_interp not in INTERPOLATIONS:
        raise ValueError(f"top_interp must be one of {INTERPOLATIONS}, got {top_interp!r}")
    if attentions.dim() != 4:
        raise ValueError(f"attentions must be (D, K, M, M), got shape {tuple(attentions.shape)}")
    align = False if top_interp == "bilinear" else None
    resized = F.interpolate(attentions, size=(resolution, resolution), mode=top_interp, align_corners=align)
    if attentions.shape[1] == 1:
        return resized.sigmoid()
    return resized.softmax(dim=1)


def assembler_attention(num_detections: int, attn_size: int, *, device=None, dtype=None) -> Tensor:
    """The FCIS-style fixed attention (D, M*M, M, M): base i*M + j is on at tile (i, j) only."""
    one_hot = torch.eye(attn_size * attn_size, device=device, dtype=dtype)
    one_hot = one_hot.view(attn_size * attn_size, attn_size, attn_size)
    return one_hot.unsqueeze(0).expand(num_detections, -1, -1, -1)


def assembler_weights(
    num_detections: int, attn_size: int, *, resolution: int, device=None, dtype=None
) -> Tensor:
    """The fixed one-hot tile weights (D, M*M, R, R) of the assembler (nearest interpolation)."""
    one_hot = assembler_attention(num_detections, attn_size, device=device, dtype=dtype)
    return F.interpolate(one_hot, size=(resolution, resolution), mode="nearest")


def merge(rois: Tensor, weights: Tensor) -> tuple[Tensor, Tensor]:
    """Weighted sum over K. rois, weights (D, K, R, R) -> (products (D, K, R, R), logits (D, R, R))."""
    if rois.shape[1] == 1:
        products = rois.sigmoid() * weights
        log_p = F.logsigmoid(rois[:, 0]) + torch.log(weights[:, 0].clamp_min(1e-12))
        log_p = log_p.clamp(max=-1e-6)
        return products, log_p - torch.log1p(-torch.exp(log_p))
    products = rois * weights
    return products, products.sum(dim=1)


def blend_steps(
    rois: Tensor,
    attentions: Tensor | None,
    *,
    method: str = "blender",
    attn_size: int | None = None,
    top_interp: str = "bilinear",
) -> BlendSteps:
    """Blend already-cropped bases (D, K, R, R) with attentions (D, K, M, M), keeping every step."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    num_dets, num_bases, resolution = rois.shape[0], rois.shape[1], rois.shape[-1]
    if method == "assembler":
        if attn_size is None or attn_size * attn_size != num_bases:
            raise ValueError(f"assembler needs K = M*M bases; got K={num_bases}, M={attn_size}")
        weights = assembler_weights(
            num_dets, attn_size, resolution=resolution, device=rois.device, dtype=rois.dtype
        )
    else:
        if attentions is None:
            raise ValueError(f"method {method!r} needs attentions (D, K, M, M)")
        if attentions.shape[:2] != rois.shape[:2]:
            raise ValueError(
                f"attentions {tuple(attentions.shape)} do not match cropped bases {tuple(rois.shape)}"
            )
        if method == "weighted_sum" and attentions.shape[-1] != 1:
            raise ValueError(f"weighted_sum is the blender with M = 1; got M = {attentions.shape[-1]}")
        weights = attention_weights(attentions, resolution=resolution, top_interp=top_interp)
    products, logits = merge(rois, weights)
    return BlendSteps(rois=rois, weights=weights, products=products, logits=logits)


def blend(
    bases: Tensor,
    boxes: list[Tensor] | Tensor,
    attentions: Tensor | None,
    *,
    resolution: int,
    stride: int,
    method: str = "blender",
    attn_size: int | None = None,
    pooler: str = "bilinear",
    top_interp: str = "bilinear",
) -> Tensor:
    """Mask logits (ΣD_i, R, R) for boxes on bases (N, K, H, W) with attentions (ΣD_i, K, M, M).

    ``attentions`` is None for ``method="assembler"``, which then needs ``attn_size``. One
    roi_align call covers every detection of the batch.
    """
    rois = crop_bases(bases, boxes, resolution=resolution, stride=stride, pooler=pooler)
    return blend_steps(rois, attentions, method=method, attn_size=attn_size, top_interp=top_interp).logits
