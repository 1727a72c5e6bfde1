"""Importing AdelaiDet checkpoints: key-complete mapping, safe reading, and parity with the official code.

The fixture holds the official R_50_1x key names and shapes and the outputs of AdelaiDet 3672122
(detectron2 v0.6) on three skimage photos, made by scripts/official_parity/make_fixture.py; the
weights are regenerated here from its seed in the official layout and go through the importer.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pycocotools.mask as mask_util
import pytest
import torch
from skimage import data

from blendmask.cli import main
from blendmask.config import BlendMaskConfig
from blendmask.data import make_synthetic_coco
from blendmask.engine import load_checkpoint
from blendmask.modeling.adelaidet import (
    COCO_CLASSES,
    convert_state_dict,
    import_adelaidet,
    infer_preset,
    seeded_state_dict,
    target_key,
)
from blendmask.modeling.blendmask import BlendMask
from blendmask.modeling.detectron2_weights import msra_resnet_state_dict, read_state_dict
from blendmask.modeling.fcos_loss import giou_plus_one_loss
from blendmask.modeling.parity import compare_detections

FIXTURE = Path(__file__).parent / "fixtures" / "adelaidet_r50_1x_parity.pt"


@pytest.fixture(scope="module")
def fixture():
    return torch.load(FIXTURE, weights_only=True)


@pytest.fixture(scope="module")
def official_shapes(fixture):
    return dict(zip(fixture["keys"], (tuple(s) for s in fixture["shapes"]), strict=True))


@pytest.fixture(scope="module")
def official_state(fixture, official_shapes):
    return seeded_state_dict(official_shapes, fixture["seed"])


def _model(checkpoint):
    model = BlendMask(BlendMaskConfig.from_dict(checkpoint["config"])).eval()
    model.load_state_dict(checkpoint["model"])
    return model


def _reference(output, size):
    masks = np.stack([mask_util.decode({"size": list(size), "counts": c}) for c in output["masks_rle"]])
    return dict(
        boxes=output["boxes"],
        scores=output["scores"],
        labels=output["classes"],
        masks=torch.from_numpy(masks).bool(),
    )


def _photo(name):
    return torch.from_numpy(getattr(data, name)()).permute(2, 0, 1).float() / 255


@pytest.mark.slow
def test_imported_r50_1x_reproduces_the_official_outputs(fixture, official_state):
    checkpoint = import_adelaidet(
        official_state, min_size_test=fixture["min_size_test"], max_size_test=fixture["max_size_test"]
    )
    assert checkpoint["preset"] == "R_50_1x"
    model = _model(checkpoint)
    for output in fixture["outputs"]:
        image = _photo(output["image"])
        pred = model([image])[0]
        ref = _reference(output, image.shape[-2:])
        report = compare_detections(pred, ref)
        print(output["image"], report)
        assert report.num_reference >= 10 and ref["scores"].std() > 0.01  # a non-degenerate reference
        assert report.unmatched == 0
        assert report.min_box_iou >= 0.99
        assert report.max_score_diff <= 1e-3
        assert report.mean_mask_iou >= 0.97
        assert tuple(pred["input_size"]) == tuple(output["input_size"])
        rel = (pred["bases"] - output["bases"]).abs().max() / output["bases"].abs().max()
        assert rel <= 1e-3


def test_torchvision_stride_placement_does_not_reproduce_them(fixture, official_state):
    """The check can fail: the same weights with the 3x3 stride (torchvision) give other outputs."""
    checkpoint = import_adelaidet(
        official_state,
        min_size_test=fixture["min_size_test"],
        max_size_test=fixture["max_size_test"],
        stride_in_1x1=False,
    )
    output = fixture["outputs"][1]
    image = _photo(output["image"])
    report = compare_detections(_model(checkpoint)([image])[0], _reference(output, image.shape[-2:]))
    assert report.unmatched > 0 or report.max_score_diff > 1e-3


def test_official_key_set_imports_complete(official_state):
    assert len(official_state) == 379
    cfg = BlendMaskConfig.from_preset("R_50_1x", class_names=list(COCO_CLASSES))
    converted = convert_state_dict(official_state, cfg)
    assert len(converted) == 379
    assert infer_preset(official_state) == "R_50_1x"
    assert "head.cls_tower.0.0.bias" in converted  # biased tower convs
    assert target_key("proposal_generator.fcos_head.centerness.weight", cfg) == "head.centerness.weight"
    assert target_key("basis_module.seg_head.6.bias", cfg) == "sem_head.net.2.bias"


def test_one_missing_or_extra_key_is_named(official_state):
    cfg = BlendMaskConfig.from_preset("R_50_1x", class_names=list(COCO_CLASSES))
    missing = dict(official_state)
    del missing["basis_module.seg_head.4.running_var"]
    with pytest.raises(ValueError, match=r"unfilled model keys \(1\): sem_head\.net\.1\.1\.running_var"):
        convert_state_dict(missing, cfg)
    extra = dict(official_state, **{"proposal_generator.fcos_head.extra.weight": torch.zeros(1)})
    with pytest.raises(ValueError, match=r"unmapped source keys \(1\): proposal_generator\.fcos_head\.extra"):
        convert_state_dict(extra, cfg)


def test_old_centerness_name_is_accepted(official_state):
    state = {k.replace(".ctrness.", ".centerness."): v for k, v in official_state.items()}
    assert any(".centerness." in k for k in state)
    checkpoint = import_adelaidet(state)
    assert torch.equal(
        checkpoint["model"]["head.centerness.weight"],
        official_state["proposal_generator.fcos_head.ctrness.weight"],
    )


class _RunsCode:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def test_pickle_with_code_is_refused_without_running(tmp_path):
    marker = tmp_path / "ran"
    evil = tmp_path / "model_final.pkl"
    evil.write_bytes(pickle.dumps({"model": {"w": _RunsCode(marker)}}))
    with pytest.raises(ValueError, match="refused to load pathlib"):
        read_state_dict(evil)
    assert not marker.exists()
    assert main(["import-adelaidet", str(evil), "--out", str(tmp_path / "x.pt")]) == 2
    assert not marker.exists() and not (tmp_path / "x.pt").exists()


def test_numpy_pickle_and_non_checkpoints(tmp_path, capsys):
    good = tmp_path / "R-50.pkl"
    good.write_bytes(pickle.dumps({"model": {"conv1_w": np.ones((64, 3, 7, 7), np.float32)}}))
    assert read_state_dict(good)["conv1_w"].shape == (64, 3, 7, 7)
    text = tmp_path / "notes.pth"
    text.write_text("not a checkpoint")
    with pytest.raises(ValueError, match="not a checkpoint"):
        read_state_dict(text)
    assert main(["import-adelaidet", str(text), "--out", str(tmp_path / "y.pt")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "notes.pth" in err[0]
    assert main(["import-adelaidet", str(tmp_path / "absent.pth"), "--out", str(tmp_path / "y.pt")]) == 2


def test_unsupported_model_names_the_configs():
    with pytest.raises(ValueError, match="DLA.*R_50_1x"):
        infer_preset(
            {"backbone.bottom_up.base_layer.0.weight": torch.zeros(1), "top_layer.weight": torch.zeros(1)}
        )


def test_msra_caffe2_names_become_backbone_keys():
    source = {
        "conv1_w": torch.ones(64, 3, 7, 7),
        "res_conv1_bn_s": torch.full((64,), 2.0),
        "res_conv1_bn_b": torch.zeros(64),
        "res3_0_branch1_w": torch.ones(512, 256, 1, 1),
        "res3_0_branch2b_bn_s": torch.ones(128),
        "res3_0_branch2b_bn_b": torch.zeros(128),
        "fc1000_w": torch.ones(1000, 2048),
    }
    out = msra_resnet_state_dict(source)
    assert set(out) >= {
        "backbone.body.stem.0.weight",
        "backbone.body.stem.1.weight",
        "backbone.body.c3.0.downsample.0.weight",
        "backbone.body.c3.0.bn2.running_var",
    }
    assert not any("fc1000" in k for k in out)
    assert torch.allclose(out["backbone.body.stem.1.running_var"], torch.full((64,), 1 - 1e-5))


_SMALL = dict(fpn_channels=64, fcos_channels=64, bottom_channels=32, sem_channels=32, attn_size=4)
_SMALL_SIZES = dict(min_size_test=64, max_size_test=64, bottom_resolution=8)


@pytest.fixture(scope="module")
def stand_in(tmp_path_factory, official_shapes):
    """An official-layout R_50_1x state dict with narrow heads, imported by the CLI."""
    root = tmp_path_factory.mktemp("adelaidet")
    cfg = BlendMaskConfig.from_preset("R_50_1x", **_SMALL)
    own = BlendMask(cfg).state_dict()
    shapes = {k: tuple(own[target_key(k, cfg)].shape) for k in official_shapes}
    source = root / "model_final.pth"
    torch.save({"model": seeded_state_dict(shapes, 0), "iteration": 1}, source)
    settings = [f"{k}={v}" for k, v in {**_SMALL, **_SMALL_SIZES}.items()]
    out = root / "imported.pt"
    assert main(["import-adelaidet", str(source), "--out", str(out), "--set", *settings]) == 0
    return root, out


def test_imported_checkpoint_runs_eval_predict_render(stand_in, capsys):
    root, checkpoint = stand_in
    state = load_checkpoint(checkpoint)
    assert state["categories"] == list(COCO_CLASSES) and state["config"]["postprocess"] == "detectron2"
    synth = make_synthetic_coco(root / "data", num_train=1, num_val=2, image_size=64, num_classes=3, seed=0)
    ann = json.loads(Path(synth.val_ann).read_text())
    ann["categories"] = [{"id": i + 1, "name": name} for i, name in enumerate(COCO_CLASSES)]
    coco_ann = root / "coco_val.json"
    coco_ann.write_text(json.dumps(ann))
    args = [
        "eval",
        "--checkpoint",
        str(checkpoint),
        "--data-root",
        str(synth.val_images),
        "--ann",
        str(coco_ann),
    ]
    assert main([*args, "--out", str(root / "eval" / "metrics.json")]) == 0
    assert "segm" in json.loads((root / "eval" / "metrics.json").read_text())
    image = sorted(Path(synth.val_images).glob("*.png"))[0]
    assert main(["predict", "--checkpoint", str(checkpoint), "--out", str(root / "pred"), str(image)]) == 0
    assert (root / "pred" / f"{image.stem}_png.png").is_file()
    assert (
        main(["render", "--checkpoint", str(checkpoint), "--image", str(image), "--out", str(root / "fig")])
        == 0
    )
    assert any((root / "fig").glob("*.png"))


def test_adelaidet_giou_adds_one_to_intersection_and_union():
    pred, target = torch.tensor([[1.0, 1, 1, 1]]), torch.tensor([[2.0, 2, 2, 2]])
    # areas 4 and 16, intersection 4, union 16, enclosing 16: IoU (4 + 1) / (16 + 1)
    assert giou_plus_one_loss(pred, target).item() == pytest.approx(12 / 17)
    assert giou_plus_one_loss(target, target).item() == pytest.approx(0.0, abs=1e-7)
    cfg = BlendMaskConfig.from_preset("R_50_1x")
    assert cfg.fcos_giou_plus_one and not BlendMaskConfig.from_preset("cpu_tiny").fcos_giou_plus_one
