"""Widget latency: from a control change to the updated picture, in the kernel (``viz.latency``).

BlendingExplorer (basis toggle, attention scale, detection pick) and MergeComparison (score
threshold, image switch after the first visit) on an untrained cpu_tiny model (its score threshold
at 0, so each image carries 100 detections) on 256 x 320 images. Every score-threshold step is a
value not visited before and shows 15-24 detections, so each one draws afresh. The JSON holds
median / max ms per interaction and the model calls, which must equal the number of images per
model: no control but a new image runs the model.
"""

from __future__ import annotations

import json

import torch

from blendmask import BlendMask, BlendMaskConfig
from blendmask.engine import predict_image
from blendmask.structures import Prediction
from viz import BlendingExplorer, MergeComparison
from viz.latency import setter, time_interactions

TARGET_MS = 150.0
REPEATS = 10


class CountingModel:
    """A model behind ``.predict(image)`` that counts its calls."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.model, self.calls = model, 0

    def predict(self, image: torch.Tensor) -> Prediction:
        self.calls += 1
        return predict_image(self.model, image)


def _model(method: str, seed: int, **overrides) -> CountingModel:
    torch.manual_seed(seed)
    cfg = BlendMaskConfig.from_preset(
        "cpu_tiny", num_classes=3, fcos_score_thresh=0.0, method=method, **overrides
    )
    return CountingModel(BlendMask(cfg))


def _images(count: int) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return [torch.rand(3, 256, 320, generator=generator) for _ in range(count)]


def explorer_latency(repeats: int = REPEATS) -> dict:
    model = _model("blender", 0)
    explorer = BlendingExplorer(model, _images(2), score_threshold=0.0)
    toggle, slider = explorer.basis_toggles[1], explorer.attention_sliders[0]
    picks = [setter(explorer.instance_select, d) for d in (3, 7, 11, 15)]
    timings = time_interactions(
        {
            "basis toggle": [setter(toggle, False), setter(toggle, True)],
            "attention scale": [setter(slider, 0.5), setter(slider, 1.5), setter(slider, 1.0)],
            "detection pick": picks,
        },
        repeats,
    )
    return {
        "interactions": timings,
        "detections": len(explorer.instance_select.options),
        "model_calls": model.calls,
    }


def comparison_latency(repeats: int = REPEATS) -> dict:
    models = {"blender": _model("blender", 0), "weighted_sum": _model("weighted_sum", 1, attn_size=1)}
    view = MergeComparison(models, _images(2), score_threshold=0.0)
    view.image_select.value = 1  # first visit of image 1: runs both models once
    view.image_select.value = 0
    scores = torch.cat([view.predictions[name]["scores"] for name in models]).sort(descending=True).values
    thresholds = [round(float(scores[2 * (15 + i)]), 6) for i in range(repeats)]
    timings = time_interactions(
        {
            "score threshold": [setter(view.score_slider, t) for t in thresholds],
            "image switch": [setter(view.image_select, 1), setter(view.image_select, 0)],
        },
        repeats,
    )
    return {"interactions": timings, "model_calls": {name: m.calls for name, m in models.items()}}


def run() -> dict:
    torch.set_num_threads(1)
    results = {"explorer": explorer_latency(), "comparison": comparison_latency()}
    medians = [t["median_ms"] for r in results.values() for t in r["interactions"].values()]
    results["target_ms"] = TARGET_MS
    results["all_medians_within_target"] = max(medians) <= TARGET_MS
    return results


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
