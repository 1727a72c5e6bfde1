"""build_transforms keeps image, boxes and masks aligned; degenerate boxes are dropped; collate."""

import pytest
import torch

from blendmask.data import build_transforms, collate


def _sample(height=60, width=90):
    """A random image with three rectangles whose boxes are their masks' extents."""
    image = torch.rand(3, height, width)
    boxes = torch.tensor([[5.0, 7.0, 30.0, 40.0], [40.0, 2.0, 88.0, 20.0], [60.0, 30.0, 62.0, 59.0]])
    masks = torch.zeros(3, height, width, dtype=torch.bool)
    for mask, (x0, y0, x1, y1) in zip(masks, boxes.int().tolist(), strict=True):
        mask[y0:y1, x0:x1] = True
    return image, {"boxes": boxes, "labels": torch.tensor([0, 1, 2]), "masks": masks, "image_id": 7}


def _extents(masks):
    rows = []
    for mask in masks:
        ys, xs = torch.nonzero(mask, as_tuple=True)
        rows.append([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
    return torch.tensor(rows, dtype=torch.float32)


def test_flip_twice_is_identity_and_flip_moves_everything():
    image, target = _sample()
    flip = build_transforms(train=True, min_sizes=None, max_size=None, flip_prob=1.0)
    flipped_image, flipped = flip(image, target)
    assert torch.equal(flipped_image, image.flip(-1))
    assert torch.equal(flipped["masks"], target["masks"].flip(-1))
    assert torch.allclose(flipped["boxes"], _extents(flipped["masks"]))
    back_image, back = flip(flipped_image, flipped)
    assert torch.equal(back_image, image)
    assert torch.equal(back["boxes"], target["boxes"]) and torch.equal(back["masks"], target["masks"])
    assert torch.equal(back["labels"], target["labels"]) and back["image_id"] == 7
    assert type(back["boxes"]) is torch.Tensor and type(back_image) is torch.Tensor


@pytest.mark.parametrize("min_sizes,max_size", [((45, 120), 1000), ((100,), 120)])
def test_resize_keeps_masks_and_boxes_aligned(min_sizes, max_size):
    transform = build_transforms(train=True, min_sizes=min_sizes, max_size=max_size, flip_prob=0.5)
    torch.manual_seed(0)
    sizes = set()
    for _ in range(6):
        image, target = transform(*_sample())
        height, width = image.shape[-2:]
        sizes.add(min(height, width))
        assert target["masks"].shape[-2:] == (height, width) and max(height, width) <= max_size
        assert target["masks"].dtype == torch.bool and target["labels"].dtype == torch.int64
        assert (target["boxes"] - _extents(target["masks"])).abs().max() <= 1
    allowed = {s if s * 1.5 <= max_size else int(max_size / 1.5) for s in min_sizes}
    assert sizes == allowed


def test_eval_resize_and_keep_size():
    image, target = _sample()
    out_image, out = build_transforms(train=False, min_sizes=(30, 90), max_size=None)(image, target)
    assert out_image.shape[-2:] == (30, 45) and torch.allclose(out["boxes"], target["boxes"] / 2)
    same_image, same = build_transforms(train=False, min_sizes=None, max_size=None)(image, target)
    assert torch.equal(same_image, image) and torch.equal(same["masks"], target["masks"])
    with pytest.raises(ValueError, match="max_size needs min_sizes"):
        build_transforms(train=False, min_sizes=None, max_size=100)


def test_degenerate_boxes_are_dropped_with_their_masks_and_labels():
    image, target = _sample()
    out_image, out = build_transforms(train=False, min_sizes=(12,), max_size=None)(image, target)
    assert out_image.shape[-2:] == (12, 18)
    assert out["labels"].tolist() == [0, 1]  # the 2-px-wide box became 0.4 px wide
    assert out["boxes"].shape == (2, 4) and out["masks"].shape == (2, 12, 18)


def test_collate():
    batch = [_sample(20, 30), _sample(25, 35)]
    images, targets = collate(batch)
    assert [tuple(i.shape) for i in images] == [(3, 20, 30), (3, 25, 35)]
    assert targets[1] is batch[1][1] and collate([]) == ([], [])


def test_image_without_instances():
    target = {
        "boxes": torch.zeros(0, 4),
        "labels": torch.zeros(0, dtype=torch.int64),
        "masks": torch.zeros(0, 50, 70, dtype=torch.bool),
        "image_id": 3,
    }
    image, out = build_transforms(train=True, min_sizes=(64,), max_size=None)(torch.rand(3, 50, 70), target)
    assert image.shape == (3, 64, 89) and out["boxes"].shape == (0, 4) and out["masks"].shape == (0, 64, 89)
