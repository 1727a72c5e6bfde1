"""The inference fast path: bfloat16 autocast of the feature networks and channels-last memory
(its accuracy cost is measured by ``blendmask.analysis.precision``).

``precision="float32"`` is the reference; ``"bfloat16"`` forces autocast; ``"auto"`` uses it on
CUDA and on CPUs that compute bfloat16 natively (the same test as for training) and float32
elsewhere. Post-processing, blending and pasting always run in float32.
"""

from __future__ import annotations

import torch

from ..modeling.blendmask import BlendMask
from .precision import cpu_has_fast_bf16

PRECISIONS = ("auto", "bfloat16", "float32")


def inference_dtype(precision: str, device: str | torch.device) -> torch.dtype | None:
    """The autocast dtype for ``precision`` on ``device``: bfloat16, or None for float32."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "float32":
        return None
    if precision == "bfloat16":
        return torch.bfloat16
    device = torch.device(device)
    native = torch.cuda.is_bf16_supported() if device.type == "cuda" else cpu_has_fast_bf16()
    return torch.bfloat16 if native else None


def prepare_for_inference(model: BlendMask, precision: str = "float32") -> BlendMask:
    """Set ``model``'s inference precision (see the module doc) and, for bfloat16, channels-last
    weights (faster convolutions on CPU and on tensor cores). Returns the model, in place."""
    device = next(model.parameters()).device
    model.inference_dtype = inference_dtype(precision, device)
    model.to(memory_format=torch.channels_last if model.inference_dtype else torch.contiguous_format)
    return model


def precision_name(model: BlendMask) -> str:
    """ "bfloat16" or "float32": the precision ``model`` predicts in."""
    return "float32" if model.inference_dtype is None else str(model.inference_dtype).removeprefix("torch.")
