"""Predictor: a trained checkpoint -> predictions with intermediates for any single image."""

from __future__ import annotations

import os
import warnings
from typing import Any

import numpy as np
import torch
from PIL import Image
from torchvision.transforms.v2 import functional as TF

from ..config import BlendMaskConfig
from ..data.images import pil_to_tensor, read_image
from ..errors import UsageError
from ..modeling.blendmask import BlendMask
from .checkpoint import load_checkpoint, load_model_weights, non_finite_weights
from .inference import prepare_for_inference

ImageInput = str | os.PathLike | Image.Image | np.ndarray | torch.Tensor


def to_image_tensor(image: ImageInput) -> torch.Tensor:
    """A path, PIL image, HWC uint8 array or CHW tensor (float 0..1 or uint8) -> (3, H, W) float 0..1 RGB.

    Files and PIL images go through :func:`blendmask.data.read_image` (EXIF orientation, 16-bit,
    grayscale, palette, RGBA, CMYK); an unreadable file raises ImageReadError naming it.
    """
    if isinstance(image, str | os.PathLike):
        return read_image(image)
    if isinstance(image, Image.Image):
        return pil_to_tensor(image)
    if isinstance(image, np.ndarray):
        if image.ndim == 2:
            image = np.repeat(image[:, :, None], 3, axis=2)
        if image.ndim != 3 or image.shape[2] not in (3, 4):
            raise ValueError(f"array images must be (H, W, 3) or (H, W, 4), got shape {image.shape}")
        image = np.ascontiguousarray(image[:, :, :3])
    tensor = TF.to_image(image)  # (C, H, W), keeps the dtype
    if tensor.ndim != 3 or tensor.shape[0] != 3:
        raise ValueError(f"tensor images must be (3, H, W), got shape {tuple(tensor.shape)}")
    if tensor.is_floating_point():
        tensor = tensor.float()
        if tensor.min() < 0 or tensor.max() > 1:
            raise ValueError("float images must hold values in 0..1")
        return tensor.as_subclass(torch.Tensor)
    return TF.to_dtype(tensor, torch.float32, scale=True).as_subclass(torch.Tensor)


class Predictor:
    """Loads a checkpoint written by ``train`` (``weights_only=True``: an untrusted file cannot run code).

    ``precision``: "float32" (the reference), "bfloat16" or "auto" (bfloat16 autocast and channels-last
    weights where the device computes bfloat16 natively; see :mod:`blendmask.engine.inference`).
    Attributes: ``model`` (BlendMask in eval mode, intermediates on), ``cfg`` (BlendMaskConfig),
    ``categories`` (class names in label order), ``device``.
    """

    def __init__(
        self,
        checkpoint: str | os.PathLike,
        device: str | torch.device | None = None,
        precision: str = "float32",
    ) -> None:
        with warnings.catch_warnings():  # non-finite weights are an error here, raised below
            warnings.simplefilter("ignore")
            state = load_checkpoint(checkpoint)
        self.cfg = BlendMaskConfig.from_dict(state["config"])
        self.categories: list[str] = list(state["categories"])
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise UsageError("--device cuda: CUDA is not available on this machine; use --device cpu")
        self.model = BlendMask(self.cfg)
        load_model_weights(self.model, state["model"], checkpoint)
        bad = non_finite_weights(state["model"])
        if bad:
            raise UsageError(
                f"{checkpoint}: {len(bad)} weight tensor(s) hold NaN or infinite values (e.g. {bad[0]}); "
                "use an earlier checkpoint"
            )
        self.model.return_intermediates = True
        prepare_for_inference(self.model.eval().to(self.device), precision)

    @torch.no_grad()
    def predict(self, image: ImageInput) -> dict[str, Any]:
        """The model's prediction dict for one image, every tensor on the CPU.

        boxes (D,4) xyxy / scores (D,) / labels (D,) / masks (D,H,W) bool in the image's size, plus the
        intermediates (bases, input_boxes, attentions, rois, mask_logits, image_size, input_size,
        scale, blend_args).
        """
        tensor = to_image_tensor(image).to(self.device)
        prediction = self.model([tensor])[0]
        return {key: value.cpu() if torch.is_tensor(value) else value for key, value in prediction.items()}
