"""Run AdelaiDet's official BlendMask R_50_1x on skimage photos and save the parity fixture.

Run with the venv built by build_official.sh, with this repository on PYTHONPATH (only the
seeded weight generator is taken from it):

    PYTHONPATH=. /work/offvenv/bin/python scripts/official_parity/make_fixture.py \
        --adet /work/offsrc/AdelaiDet --out tests/fixtures/adelaidet_r50_1x_parity.pt

The weights come from ``seeded_state_dict`` over the official model's own keys, so the fixture
stores the key names and shapes, the inputs' names and the official outputs, not the weights.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pycocotools.mask as mask_util
import torch
from skimage import data

from blendmask.modeling.adelaidet import seeded_state_dict

SEED = 11
IMAGES = ("astronaut", "coffee", "chelsea")
MIN_SIZE_TEST, MAX_SIZE_TEST = 256, 400


def build_official(adet: Path):
    from adet.config import get_cfg
    from detectron2.modeling import build_model

    cfg = get_cfg()
    cfg.merge_from_file(str(adet / "configs/BlendMask/R_50_1x.yaml"))
    cfg.MODEL.WEIGHTS = ""
    cfg.MODEL.DEVICE = "cpu"
    cfg.MODEL.BLENDMASK.VISUALIZE = True  # return the bases
    cfg.INPUT.MIN_SIZE_TEST, cfg.INPUT.MAX_SIZE_TEST = MIN_SIZE_TEST, MAX_SIZE_TEST
    cfg.freeze()
    return cfg, build_model(cfg).eval()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--adet", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    sys.path.insert(0, str(args.adet))
    from detectron2.data import transforms as T

    torch.set_num_threads(2)
    cfg, model = build_official(args.adet)
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    model.load_state_dict(seeded_state_dict(shapes, SEED))
    resize = T.ResizeShortestEdge([MIN_SIZE_TEST, MIN_SIZE_TEST], MAX_SIZE_TEST)
    outputs = []
    for name in IMAGES:
        rgb = getattr(data, name)()
        bgr = rgb[:, :, ::-1]
        image = resize.get_transform(bgr).apply_image(bgr)
        tensor = torch.as_tensor(image.astype("float32").transpose(2, 0, 1))
        with torch.no_grad():
            result = model([{"image": tensor, "height": rgb.shape[0], "width": rgb.shape[1]}])[0]
        inst = result["instances"]
        masks = inst.pred_masks.numpy().astype(np.uint8)
        rles = [mask_util.encode(np.asfortranarray(m)) for m in masks]
        h, w = image.shape[:2]
        stride = 4
        bases = result["bases"][0][0, :, : -(-h // stride), : -(-w // stride)]
        outputs.append(
            dict(
                image=name,
                input_size=[h, w],
                boxes=inst.pred_boxes.tensor.clone(),
                scores=inst.scores.clone(),
                classes=inst.pred_classes.clone(),
                masks_rle=[r["counts"].decode("ascii") for r in rles],
                bases=bases.clone(),
            )
        )
        print(name, "detections", len(inst), "scores", inst.scores.min().item(), inst.scores.max().item(),
              "mask areas", masks.reshape(len(masks), -1).mean(1).round(3).tolist()[:8])
    fixture = dict(
        seed=SEED,
        config="configs/BlendMask/R_50_1x.yaml (AdelaiDet 3672122, detectron2 v0.6)",
        min_size_test=MIN_SIZE_TEST,
        max_size_test=MAX_SIZE_TEST,
        keys=list(shapes),
        shapes=[list(s) for s in shapes.values()],
        outputs=outputs,
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(fixture, args.out)
    print("wrote", args.out, args.out.stat().st_size, "bytes,", len(shapes), "tensors")


if __name__ == "__main__":
    main()
