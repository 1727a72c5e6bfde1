"""The runtime: training, COCO evaluation, prediction and checkpoints, used by the application layer."""

from .checkpoint import load_checkpoint, save_checkpoint
from .datasets import coco_eval_set, coco_train_set
from .distributed import init_distributed, shutdown_distributed
from .evaluate import coco_evaluate, evaluate, format_metrics, format_per_category, predictions_to_coco
from .predict import Predictor, predict_image
from .schedule import build_optimizer, build_scheduler, lr_factor
from .train import NonFiniteLossError, TrainResult, train

__all__ = [
    "NonFiniteLossError",
    "Predictor",
    "TrainResult",
    "build_optimizer",
    "build_scheduler",
    "coco_eval_set",
    "coco_evaluate",
    "coco_train_set",
    "evaluate",
    "format_metrics",
    "format_per_category",
    "init_distributed",
    "load_checkpoint",
    "lr_factor",
    "predict_image",
    "predictions_to_coco",
    "save_checkpoint",
    "shutdown_distributed",
    "train",
]
