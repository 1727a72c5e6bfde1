"""Mask targets (GT mask cropped to its box at R x R) and pasting R x R masks into the image."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor
from torchvision.ops import roi_align


def mask_targets(masks: Tensor, boxes: Tensor, resolution: int) -> Tensor:
    """GT masks (G, H, W) bool cropped to ``boxes`` (G, 4) and resized to (G, R, R) in {0, 1}.

    RoIAlign (aligned) of each mask inside its own box, binarised at 0.5 (detectron2's
    ``crop_and_resize``).
    """
    if masks.shape[0] == 0:
        return masks.new_zeros((0, resolution, resolution), dtype=torch.float32)
    index = torch.arange(masks.shape[0], device=masks.device, dtype=torch.float32)[:, None]
    rois = torch.cat([index, boxes.to(torch.float32)], dim=1)
    crops = roi_align(
        masks[:, None].float(), rois, resolution, spatial_scale=1.0, sampling_ratio=0, aligned=True
    )
    return (crops[:, 0] >= 0.5).float()


def paste_masks(probs: Tensor, boxes: Tensor, image_size: tuple[int, int], threshold: float = 0.5) -> Tensor:
    """Paste mask probabilities (D, R, R) into boxes (D, 4) of an image (H, W) -> (D, H, W) bool.

    Bilinear resampling (``grid_sample``, half-pixel centres, zeros outside) over each box's own
    pixel region plus a one-pixel margin (detectron2's ``paste_masks_in_image``), so the cost is
    proportional to the box areas, not to image area x detections.
    """
    height, width = image_size
    out = torch.zeros((probs.shape[0], height, width), dtype=torch.bool, device=probs.device)
    for d, (x0, y0, x1, y1) in enumerate(boxes.tolist()):
        ix0, iy0 = max(math.floor(x0) - 1, 0), max(math.floor(y0) - 1, 0)
        ix1, iy1 = min(math.ceil(x1) + 1, width), min(math.ceil(y1) + 1, height)
        if ix1 <= ix0 or iy1 <= iy0:
            continue
        gx = (torch.arange(ix0, ix1, device=probs.device, dtype=torch.float32) + 0.5 - x0) / max(
            x1 - x0, 1e-6
        )
        gy = (torch.arange(iy0, iy1, device=probs.device, dtype=torch.float32) + 0.5 - y0) / max(
            y1 - y0, 1e-6
        )
        grid = torch.stack(torch.meshgrid(gx * 2 - 1, gy * 2 - 1, indexing="xy"), dim=-1)  # (h, w, 2)
        region = F.grid_sample(
            probs[d][None, None], grid[None].to(probs.dtype), mode="bilinear", align_corners=False
        )
        out[d, iy0:iy1, ix0:ix1] = region[0, 0] >= threshold
    return out
