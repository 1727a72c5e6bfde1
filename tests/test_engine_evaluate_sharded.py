"""Sharded evaluation: 2 gloo processes each predict half of the images, rank 0 gathers them and runs
COCOeval once; the metrics equal one process's."""

from __future__ import annotations

import json
import os

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from blendmask.data import make_synthetic_coco
from blendmask.engine import coco_eval_set, evaluate
from blendmask.structures import Prediction

NUM_IMAGES = 5


class PerturbedGroundTruth(nn.Module):
    """Answers each image with its ground truth, perturbed per image (a missed instance, shifted
    masks, graded scores) so that the COCO metrics are neither 0 nor 1 and depend on every image."""

    def __init__(self, dataset) -> None:
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(()))  # evaluate() reads the device from a parameter
        self.return_intermediates = False
        self.answers = {}
        for index in range(len(dataset)):
            image, target = dataset[index]
            n = len(target["boxes"])
            masks = target["masks"].roll(shifts=index, dims=2)
            keep = torch.arange(n) != index % max(n, 1)  # drop one instance of each image
            self.answers[self._key(image)] = Prediction(
                boxes=target["boxes"][keep] + index,
                scores=torch.linspace(0.9, 0.3, n)[keep],
                labels=target["labels"][keep],
                masks=masks[keep],
            )

    @staticmethod
    def _key(image: torch.Tensor) -> float:
        return round(float(image.double().sum()), 3)

    def forward(self, images):
        return [self.answers[self._key(image)] for image in images]


def _dataset(root: str):
    return coco_eval_set(os.path.join(root, "val"), os.path.join(root, "annotations", "instances_val.json"))


def _worker(rank: int, world_size: int, port: int, root: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world_size)
    try:
        dataset = _dataset(root)
        metrics = evaluate(
            PerturbedGroundTruth(dataset), dataset, batch_size=2, out_dir=os.path.join(root, "ddp")
        )
        with open(os.path.join(root, f"rank{rank}.json"), "w") as handle:
            json.dump(metrics, handle)
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_two_gloo_processes_give_the_metrics_of_one_process(tmp_path, free_port):
    root = str(tmp_path)
    make_synthetic_coco(root, num_train=0, num_val=NUM_IMAGES, image_size=64, seed=3)
    mp.spawn(_worker, args=(2, free_port, root), nprocs=2, join=True)
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]

    dataset = _dataset(root)
    single = evaluate(PerturbedGroundTruth(dataset), dataset, batch_size=2, progress=False)
    assert 0.05 < single["segm"]["AP"] < 0.95 and 0.05 < single["bbox"]["AP"] < 0.95
    assert single["num_images"] == NUM_IMAGES
    assert ranks[0] == ranks[1] == json.loads(json.dumps(single))
    written = json.loads((tmp_path / "ddp" / "metrics.json").read_text())
    assert written == ranks[0]
    assert len(json.loads((tmp_path / "ddp" / "coco_results.json").read_text())) == single["num_detections"]
