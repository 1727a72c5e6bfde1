"""Predictor (a trained checkpoint ready to predict) and ``predict_image``, the one path from an image
to a Prediction."""

from __future__ import annotations

import os
import warnings

import torch
from torch import nn

from ..config import BlendMaskConfig
from ..data.images import ImageInput, to_image_tensor
from ..errors import UsageError
from ..modeling.blendmask import BlendMask
from ..structures import Prediction
from .checkpoint import load_checkpoint, load_model_weights, non_finite_weights
from .inference import prepare_for_inference


def predict_image(model_or_predictor: nn.Module | Predictor, image: ImageInput) -> Prediction:
    """The prediction for one image, every tensor on the CPU: the one path from an image to a Prediction.

    A ``torch.nn.Module`` (BlendMask) runs in eval mode under ``torch.no_grad`` on its own device
    (its train/eval mode is restored); a :class:`Predictor` runs its prepared model; any other object
    must offer ``.predict(image)`` returning a Prediction. The image goes through
    :func:`blendmask.data.to_image_tensor`.
    """
    tensor = to_image_tensor(image)
    if isinstance(model_or_predictor, Predictor):
        model, device = model_or_predictor.model, model_or_predictor.device
    elif isinstance(model_or_predictor, nn.Module):
        model, device = model_or_predictor, next(model_or_predictor.parameters()).device
    elif hasattr(model_or_predictor, "predict"):
        return model_or_predictor.predict(tensor).cpu()
    else:
        raise TypeError(
            "expected a BlendMask model, a Predictor or an object with .predict(image), "
            f"got {type(model_or_predictor).__name__}"
        )
    tensor = tensor.to(device)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            return model([tensor])[0].cpu()
    finally:
        model.train(was_training)


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

    def predict(self, image: ImageInput) -> Prediction:
        """The model's :class:`Prediction` for one image, with its intermediates, every tensor on the CPU."""
        return predict_image(self, image)
