"""Data throughput: synthetic generator images/s at 128 px, and the time to load + decode 100 items.

Run as a script to print the numbers as JSON. Timings are the best of ``repeats`` runs.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from blendmask.data import CocoInstances, make_synthetic_coco


def run(num_images: int = 300, image_size: int = 128, repeats: int = 3) -> dict:
    """``dict`` with the generator's images/s and the seconds to load + decode 100 dataset items."""
    generate, build, load = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(repeats):
            start = time.perf_counter()
            paths = make_synthetic_coco(
                Path(tmp) / str(repeat), num_train=num_images, num_val=0, image_size=image_size, seed=repeat
            )
            generate.append(time.perf_counter() - start)
            start = time.perf_counter()
            dataset = CocoInstances(paths.train_images, paths.train_ann)
            build.append(time.perf_counter() - start)
            start = time.perf_counter()
            instances = sum(len(dataset[index][1]["labels"]) for index in range(100))
            load.append(time.perf_counter() - start)
    return {
        "image_size": image_size,
        "synthetic_images": num_images,
        "synthetic_images_per_s": round(num_images / min(generate), 1),
        "dataset_build_s": round(min(build), 4),
        "load_decode_100_items_s": round(min(load), 4),
        "instances_in_100_items": instances,
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
