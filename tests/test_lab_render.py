"""Display helpers of the engine's PNG outputs."""

from __future__ import annotations

import torch

from blendmask.lab.render import upscaled
from blendmask.structures import Prediction


def test_upscaled_keeps_boxes_and_masks_aligned():
    image = torch.rand(3, 4, 5)
    masks = torch.zeros(1, 4, 5, dtype=torch.bool)
    masks[0, 1, 1:3] = True  # pixels (y=1, x=1..2): the box [1, 1, 3, 2] xyxy
    prediction = Prediction(
        boxes=torch.tensor([[1.0, 1.0, 3.0, 2.0]]),
        scores=torch.tensor([0.9]),
        labels=torch.tensor([2]),
        masks=masks,
    )
    big, enlarged = upscaled(image, prediction, 3)
    assert big.shape == (3, 12, 15) and 0 <= big.min() and big.max() <= 1
    assert torch.equal(enlarged["boxes"], torch.tensor([[3.0, 3.0, 9.0, 6.0]]))
    ys, xs = enlarged["masks"][0].nonzero(as_tuple=True)
    assert (ys.min(), ys.max() + 1, xs.min(), xs.max() + 1) == (3, 6, 3, 9)  # fills the scaled box exactly
    assert torch.equal(enlarged["labels"], prediction["labels"])
    assert upscaled(image, prediction, 1) == (image, prediction)
