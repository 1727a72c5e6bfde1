"""FCOS target assignment (Tian et al. 2019, as used by BlendMask).

Locations of level l sit at ``stride // 2 + stride * index``. A location is positive for a GT box
when it lies inside the box's centre region (radius ``center_sample_radius * stride`` around the
box centre, clipped to the box; the whole box when the radius is 0) and the largest of its
distances l, t, r, b to the box sides is within the level's size-of-interest range. A location
claimed by several boxes takes the one of smallest area.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor


class LocationTargets(NamedTuple):
    """Targets of one image at all A locations (levels concatenated)."""

    labels: Tensor  # (A,) int64 class 0..C-1, C = background
    reg_targets: Tensor  # (A, 4) l, t, r, b in input pixels (meaningful at positives)
    gt_inds: Tensor  # (A,) index of the assigned GT box of this image, -1 at background


class Locations(NamedTuple):
    """All locations of a feature pyramid, levels concatenated (A = sum_l H_l * W_l)."""

    points: Tensor  # (A, 2) x, y in input pixels
    strides: Tensor  # (A,) stride of each location's level
    size_ranges: Tensor  # (A, 2) [lo, hi] on max(l, t, r, b)
    level_sizes: list[int]  # H_l * W_l per level


def level_points(height: int, width: int, stride: int, device=None) -> Tensor:
    """(H*W, 2) x, y centres ``stride // 2 + stride * index``, row-major (x fastest)."""
    xs = torch.arange(width, device=device, dtype=torch.float32) * stride + stride // 2
    ys = torch.arange(height, device=device, dtype=torch.float32) * stride + stride // 2
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1)


def make_locations(
    shapes: list[tuple[int, int]], strides: tuple[int, ...], sizes_of_interest: tuple[int, ...], device=None
) -> Locations:
    """Locations for feature maps of ``shapes`` (H_l, W_l) at ``strides``.

    Level l's range is [soi[l-1], soi[l]] with soi[-1] = -1 and soi[L-1] = inf.
    """
    if len(sizes_of_interest) != len(strides) - 1:
        raise ValueError(
            f"need {len(strides) - 1} sizes of interest for {len(strides)} levels, got {sizes_of_interest}"
        )
    bounds = [-1.0, *map(float, sizes_of_interest), math.inf]
    points, level_strides, ranges, counts = [], [], [], []
    for level, ((h, w), stride) in enumerate(zip(shapes, strides, strict=True)):
        pts = level_points(h, w, stride, device)
        points.append(pts)
        level_strides.append(torch.full((len(pts),), float(stride), device=device))
        ranges.append(torch.tensor([bounds[level], bounds[level + 1]], device=device).expand(len(pts), 2))
        counts.append(len(pts))
    return Locations(torch.cat(points), torch.cat(level_strides), torch.cat(ranges), counts)


def assign_targets(
    locations: Locations,
    boxes: Tensor,
    labels: Tensor,
    *,
    num_classes: int,
    center_sample_radius: float = 1.5,
) -> LocationTargets:
    """Assign GT ``boxes`` (G, 4) xyxy with ``labels`` (G,) to every location of one image."""
    num_locs = locations.points.shape[0]
    device = locations.points.device
    if boxes.numel() == 0:
        return LocationTargets(
            torch.full((num_locs,), num_classes, dtype=torch.int64, device=device),
            torch.zeros((num_locs, 4), device=device),
            torch.full((num_locs,), -1, dtype=torch.int64, device=device),
        )
    boxes = boxes.to(device=device, dtype=torch.float32)
    xs, ys = locations.points[:, 0, None], locations.points[:, 1, None]  # (A, 1)
    x0, y0, x1, y1 = boxes.unbind(dim=1)  # (G,)
    reg = torch.stack([xs - x0, ys - y0, x1 - xs, y1 - ys], dim=2)  # (A, G, 4)

    if center_sample_radius > 0:
        radius = locations.strides[:, None] * center_sample_radius  # (A, 1)
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        cx0, cy0 = torch.maximum(cx - radius, x0), torch.maximum(cy - radius, y0)
        cx1, cy1 = torch.minimum(cx + radius, x1), torch.minimum(cy + radius, y1)
        inside = torch.stack([xs - cx0, ys - cy0, cx1 - xs, cy1 - ys], dim=2).amin(dim=2) > 0
    else:
        inside = reg.amin(dim=2) > 0
    max_reg = reg.amax(dim=2)
    cared = (max_reg >= locations.size_ranges[:, :1]) & (max_reg <= locations.size_ranges[:, 1:])

    areas = ((x1 - x0) * (y1 - y0))[None].expand(num_locs, -1)
    areas = torch.where(inside & cared, areas, torch.full_like(areas, math.inf))
    min_area, gt_inds = areas.min(dim=1)
    positive = torch.isfinite(min_area)
    assigned_labels = torch.where(positive, labels.to(device)[gt_inds], torch.full_like(gt_inds, num_classes))
    reg_targets = reg[torch.arange(num_locs, device=device), gt_inds]
    return LocationTargets(
        assigned_labels, reg_targets, torch.where(positive, gt_inds, torch.full_like(gt_inds, -1))
    )


def centerness_targets(reg_targets: Tensor) -> Tensor:
    """(P, 4) l, t, r, b -> (P,) sqrt(min(l,r)/max(l,r) * min(t,b)/max(t,b))."""
    lr, tb = reg_targets[:, [0, 2]], reg_targets[:, [1, 3]]
    ratio = (lr.amin(dim=1) / lr.amax(dim=1)) * (tb.amin(dim=1) / tb.amax(dim=1))
    return ratio.clamp_min(0).sqrt()
