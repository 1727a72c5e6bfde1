"""The blender against an independent per-detection re-computation, and its special cases."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F
from torchvision.ops import roi_align, roi_pool

from blendmask.modeling.blender import blend, blend_steps, crop_bases


def reference_blend(bases, boxes, attentions, *, resolution, stride, method, attn_size, pooler, top_interp):
    """One detection at a time: crop, resize attention, softmax over K (sigmoid for K = 1), sum."""
    out = []
    det = 0
    for image, image_boxes in enumerate(boxes):
        for box in image_boxes:
            roi_box = [box[None]]
            if pooler == "bilinear":
                r = roi_align(bases[image : image + 1], roi_box, resolution, 1.0 / stride, 1, True)[0]
            else:
                r = roi_pool(bases[image : image + 1], roi_box, resolution, 1.0 / stride)[0]
            num_bases = r.shape[0]
            if method == "assembler":
                w = torch.zeros(num_bases, resolution, resolution)
                tile = resolution // attn_size
                for i, j in itertools.product(range(attn_size), range(attn_size)):
                    w[i * attn_size + j, i * tile : (i + 1) * tile, j * tile : (j + 1) * tile] = 1
            else:
                a = attentions[det][None]
                kwargs = {"align_corners": False} if top_interp == "bilinear" else {}
                a = F.interpolate(a, size=(resolution, resolution), mode=top_interp, **kwargs)[0]
                w = a.sigmoid() if num_bases == 1 else a.softmax(dim=0)
            if num_bases == 1:
                p = (r.sigmoid() * w).sum(dim=0)
                out.append(torch.log(p) - torch.log1p(-p))
            else:
                out.append((r * w).sum(dim=0))
            det += 1
    return torch.stack(out)


def random_case(num_bases, attn_size, *, seed=0):
    g = torch.Generator().manual_seed(seed)
    bases = torch.randn(2, num_bases, 20, 24, generator=g)
    boxes = []
    for count in (3, 2):
        xy = torch.rand(count, 2, generator=g) * 60
        wh = torch.rand(count, 2, generator=g) * 30 + 4
        boxes.append(torch.cat([xy, xy + wh], dim=1))
    attentions = torch.randn(5, num_bases, attn_size, attn_size, generator=g)
    return bases, boxes, attentions


CASES = [
    ("blender", 4, 7),
    ("blender", 1, 7),
    ("weighted_sum", 4, 1),
    ("assembler", 16, 4),
]


@pytest.mark.parametrize("method, num_bases, attn_size", CASES)
@pytest.mark.parametrize("pooler", ["bilinear", "nearest"])
@pytest.mark.parametrize("top_interp", ["bilinear", "nearest"])
def test_blend_matches_reference(method, num_bases, attn_size, pooler, top_interp):
    bases, boxes, attentions = random_case(num_bases, attn_size)
    kwargs = dict(
        resolution=28, stride=4, method=method, attn_size=attn_size, pooler=pooler, top_interp=top_interp
    )
    att = None if method == "assembler" else attentions
    got = blend(bases, boxes, att, **kwargs)
    want = reference_blend(bases, boxes, att, **kwargs)
    assert got.shape == (5, 28, 28)
    torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)


def test_weighted_sum_is_blender_with_m_1():
    bases, boxes, _ = random_case(4, 1)
    coeffs = torch.randn(5, 4, 1, 1)
    kwargs = dict(resolution=28, stride=4, attn_size=1)
    ws = blend(bases, boxes, coeffs, method="weighted_sum", **kwargs)
    torch.testing.assert_close(ws, blend(bases, boxes, coeffs, method="blender", **kwargs))
    rois = crop_bases(bases, boxes, resolution=28, stride=4)
    yolact = (rois * coeffs.softmax(dim=1)).sum(dim=1)  # one scalar per basis, as in YOLACT
    torch.testing.assert_close(ws, yolact)
    with pytest.raises(ValueError, match="M = 1"):
        blend(bases, boxes, torch.randn(5, 4, 2, 2), method="weighted_sum", **kwargs)


def test_assembler_tile_layout():
    """Base k is the constant k + 1, so tile (i, j) of every mask reads base i*M + j = i*M + j + 1."""
    m, r = 2, 4
    bases = torch.arange(1.0, m * m + 1).view(1, m * m, 1, 1).expand(1, m * m, 8, 8).contiguous()
    box = [torch.tensor([[4.0, 4.0, 28.0, 28.0]])]
    logits = blend(bases, box, None, resolution=r, stride=4, method="assembler", attn_size=m)
    expected = torch.tensor([[1.0, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]])
    torch.testing.assert_close(logits[0], expected)
    with pytest.raises(ValueError, match="K = M\\*M"):
        blend(bases, box, None, resolution=r, stride=4, method="assembler", attn_size=3)


def test_blend_steps_expose_every_intermediate():
    bases, boxes, attentions = random_case(4, 7)
    rois = crop_bases(bases, boxes, resolution=28, stride=4)
    steps = blend_steps(rois, attentions, attn_size=7)
    torch.testing.assert_close(steps.weights.sum(dim=1), torch.ones(5, 28, 28))
    torch.testing.assert_close(steps.products.sum(dim=1), steps.logits)
    torch.testing.assert_close(steps.logits, blend(bases, boxes, attentions, resolution=28, stride=4))


def test_zero_detections():
    bases = torch.randn(1, 4, 8, 8)
    logits = blend(bases, [torch.zeros(0, 4)], torch.zeros(0, 4, 7, 7), resolution=28, stride=4)
    assert logits.shape == (0, 28, 28)
