"""BlendMaskConfig: presets, R_K_M strings, dict round trip, validation, schedule rescaling."""

from __future__ import annotations

import json

import pytest

from blendmask import BlendMaskConfig
from blendmask.config import PRESETS, parse_rkm
from blendmask.modeling.backbone import resolve_weights


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_preset_round_trips_through_json(name):
    cfg = BlendMaskConfig.from_preset(name, num_classes=3, class_names=["a", "b", "c"])
    data = json.loads(json.dumps(cfg.to_dict()))
    assert BlendMaskConfig.from_dict(data) == cfg
    assert isinstance(data["min_size_train"], list)


def test_official_defaults():
    cfg = BlendMaskConfig.from_preset("R_50_1x")
    assert cfg.rkm == "56_4_14"
    assert (cfg.bottom_module, cfg.bottom_in_features, cfg.bases_stride) == (
        "protonet",
        ("p3", "p4", "p5"),
        4,
    )
    assert cfg.sem_loss and cfg.sem_loss_weight == pytest.approx(0.3)
    assert cfg.fpn_strides == (8, 16, 32, 64, 128)
    assert (cfg.fcos_num_convs, cfg.fcos_channels, cfg.fcos_norm, cfg.fcos_shared_tower) == (
        4,
        256,
        "GN",
        False,
    )
    assert (cfg.pooler, cfg.top_interp, cfg.method) == ("bilinear", "bilinear", "blender")
    assert (cfg.input_format, cfg.pixel_mean, cfg.pixel_std) == (
        "BGR",
        (103.53, 116.28, 123.675),
        (1.0, 1.0, 1.0),
    )
    assert (cfg.optimizer, cfg.lr, cfg.batch_size, cfg.max_iter, cfg.lr_steps) == (
        "sgd",
        0.01,
        16,
        90000,
        (60000, 80000),
    )
    assert cfg.backbone_weights is None and cfg.max_positives_per_image is None
    assert (cfg.stride_in_1x1, cfg.fcos_conv_bias, cfg.resize_mode, cfg.postprocess) == (
        True,
        True,
        "pil",
        "detectron2",
    )
    # the defaults are the same architecture; the preset adds how AdelaiDet computes it
    official = dict(
        stride_in_1x1=True,
        fcos_conv_bias=True,
        resize_mode="pil",
        postprocess="detectron2",
        fcos_giou_plus_one=True,
    )
    assert BlendMaskConfig(**official) == cfg


def test_rt_preset_is_shared_three_conv_tower_on_p3_p5():
    cfg = BlendMaskConfig.from_preset("RT_R_50")
    assert cfg.fcos_shared_tower and cfg.fcos_num_convs == 3
    assert cfg.fpn_strides == (8, 16, 32)
    assert cfg.bottom_module == "proto_fpn" and cfg.bottom_channels == 128


def test_cpu_tiny_is_small():
    cfg = BlendMaskConfig.from_preset("cpu_tiny")
    assert cfg.backbone == "resnet18" and cfg.rkm == "28_4_7" and cfg.fcos_num_convs == 2
    assert cfg.min_size_test is None and cfg.optimizer == "adamw"


def test_rkm_strings():
    assert parse_rkm("28_4_4") == dict(bottom_resolution=28, num_bases=4, attn_size=4)
    cfg = BlendMaskConfig.from_preset("R_50_1x", rkm="28_4_4")
    assert (cfg.bottom_resolution, cfg.num_bases, cfg.attn_size) == (28, 4, 4)
    assert cfg.with_rkm("56_1_7").rkm == "56_1_7"
    with pytest.raises(ValueError, match="R_K_M"):
        parse_rkm("28-4-4")


@pytest.mark.parametrize(
    "overrides, field",
    [
        (dict(method="weighted_sum"), "attn_size"),
        (dict(method="assembler", attn_size=4), "num_bases"),
        (dict(method="mix"), "method"),
        (dict(bases_stride=16), "bases_stride"),
        (dict(fpn_max_level=5), "fcos_sizes_of_interest"),
        (dict(fpn_max_level=6), "needs 3 values for levels P3..P6"),
        (dict(fpn_max_level=4), "fpn_max_level"),
        (dict(bottom_module="deeplabv3plus"), "bottom_in_features"),
        (dict(class_names=["one"]), "class_names"),
    ],
)
def test_invalid_settings_name_the_field(overrides, field):
    with pytest.raises(ValueError, match=field):
        BlendMaskConfig.from_preset("R_50_1x", **overrides)


def test_valid_merge_variants():
    assert BlendMaskConfig.from_preset("R_50_1x", rkm="28_4_1", method="weighted_sum").attn_size == 1
    assert BlendMaskConfig.from_preset("R_50_1x", rkm="28_16_4", method="assembler").num_bases == 16


def test_unknown_names_are_rejected():
    with pytest.raises(ValueError, match="unknown preset"):
        BlendMaskConfig.from_preset("R_999")
    with pytest.raises(ValueError, match="bottom_res"):
        BlendMaskConfig.from_preset("R_50_1x", bottom_res=28)
    with pytest.raises(ValueError, match="not_a_field"):
        BlendMaskConfig.from_dict({"not_a_field": 1})


def test_backbone_weights_names_resolve_without_download():
    assert resolve_weights("resnet50", None) is None
    full = resolve_weights("resnet50", "ResNet50_Weights.IMAGENET1K_V1")
    assert full is resolve_weights("resnet50", "IMAGENET1K_V1")
    assert resolve_weights("resnet18", "DEFAULT").url.endswith(".pth")
    with pytest.raises(ValueError, match="backbone_weights"):
        resolve_weights("resnet50", "NOT_A_WEIGHT")


SCHEDULE_FIELDS = {"max_iter", "lr_steps", "warmup_iters"}


def _fractions(cfg: BlendMaskConfig) -> list[float]:
    return [step / cfg.max_iter for step in cfg.lr_steps]


@pytest.mark.parametrize("iters", [9000, 900, 30, 180000])
def test_with_iters_keeps_the_lr_steps_in_place_and_caps_the_warm_up(iters):
    base = BlendMaskConfig.from_preset("R_50_1x")
    short = base.with_iters(iters)
    assert short.max_iter == iters and len(short.lr_steps) == len(base.lr_steps)
    assert _fractions(short) == pytest.approx(_fractions(base), abs=0.5 / iters)
    assert all(isinstance(step, int) for step in short.lr_steps)
    assert short.warmup_iters == min(base.warmup_iters, iters // 10)
    assert {k: v for k, v in short.to_dict().items() if k not in SCHEDULE_FIELDS} == {
        k: v for k, v in base.to_dict().items() if k not in SCHEDULE_FIELDS
    }
    assert base == BlendMaskConfig.from_preset("R_50_1x")  # a copy: the original is unchanged


def test_with_iters_lengthening_keeps_steps_proportional_and_the_warm_up():
    base = BlendMaskConfig.from_preset("R_50_1x")
    longer = base.with_iters(3 * base.max_iter)
    assert longer.lr_steps == tuple(3 * step for step in base.lr_steps)
    assert longer.warmup_iters == base.warmup_iters  # never stretched, only capped
    assert longer.with_iters(base.max_iter) == base


def test_with_iters_warm_up_is_at_least_one_iteration():
    base = BlendMaskConfig.from_preset("cpu_tiny")
    for iters in (1, 5, 9):
        assert base.with_iters(iters).warmup_iters == 1
    assert base.with_iters(base.max_iter) == base


@pytest.mark.parametrize("iters", [0, -5, 2.5, True, "100"])
def test_with_iters_rejects_anything_but_a_positive_whole_number(iters):
    with pytest.raises(ValueError, match="iters"):
        BlendMaskConfig.from_preset("cpu_tiny").with_iters(iters)
