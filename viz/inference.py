"""One prediction dict from a BlendMask model or any object with ``.predict(image)``."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from viz.images import as_image_tensor


def _to_cpu(value):
    if isinstance(value, Tensor):
        return value.detach().cpu()
    if isinstance(value, dict):
        return {k: _to_cpu(v) for k, v in value.items()}
    return value


def predict(model_or_predictor, image) -> dict:
    """Prediction dict (see the model's eval-mode output) for one image, tensors on the CPU.

    A ``torch.nn.Module`` (BlendMask) is called in eval mode under ``torch.no_grad`` (its
    train/eval mode is restored); anything else (the engine's Predictor) must offer
    ``.predict(image)`` returning one prediction dict. The image goes in as (3, H, W) float.
    """
    tensor = as_image_tensor(image)
    if isinstance(model_or_predictor, nn.Module):
        model = model_or_predictor
        was_training = model.training
        device = next(model.parameters()).device
        model.eval()
        try:
            with torch.no_grad():
                output = model([tensor.to(device)])[0]
        finally:
            model.train(was_training)
        return _to_cpu(output)
    if hasattr(model_or_predictor, "predict"):
        return _to_cpu(model_or_predictor.predict(tensor))
    raise TypeError(
        "expected a BlendMask model or an object with .predict(image), "
        f"got {type(model_or_predictor).__name__}"
    )
