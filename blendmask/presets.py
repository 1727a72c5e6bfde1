"""Named configurations: the official AdelaiDet model-zoo settings and the CPU teaching preset.

Each preset is a dict of ``BlendMaskConfig`` field overrides; ``BlendMaskConfig.from_preset(name)``
builds the config. This module holds data only, so ``blendmask.config`` can import it.
"""

from __future__ import annotations

from typing import Any

IMAGENET_RGB_MEAN = (123.675, 116.28, 103.53)  # torchvision ResNet weights, 0..255 scale, RGB
IMAGENET_RGB_STD = (58.395, 57.12, 57.375)

_3X = dict(max_iter=270000, lr_steps=(180000, 240000))
_550 = dict(
    min_size_train=(440, 462, 484, 506, 528, 550), max_size_train=916, min_size_test=550, max_size_test=916
)

# How AdelaiDet's models compute (detectron2 MSRA ResNet, biased GN tower convs, PIL resize,
# detectron2 post-processing): the behaviour of the model-zoo presets below.
_ADELAIDET = dict(
    stride_in_1x1=True,
    fcos_conv_bias=True,
    resize_mode="pil",
    postprocess="detectron2",
    fcos_giou_plus_one=True,
)
_ADELAIDET_550 = dict(
    _ADELAIDET,
    **_550,
    fpn_max_level=6,
    fcos_sizes_of_interest=(64, 128, 256),
    fcos_shared_tower=True,
    fcos_num_convs=3,
    bottom_num_convs=2,
)

PRESETS: dict[str, dict[str, Any]] = {
    # Official R-50 1x: 56_4_14, ProtoNet on P3..P5 (128 wide), stride-4 bases, semantic loss, P3..P7.
    "R_50_1x": dict(_ADELAIDET),
    "R_50_3x": dict(_ADELAIDET, max_iter=270000, lr_steps=(210000, 250000)),
    "R_101_3x": dict(_ADELAIDET, backbone="resnet101", max_iter=270000, lr_steps=(210000, 250000)),
    # R-101 with modulated deformable convs in res3..res5 every third block, 5x schedule.
    "R_101_dcni3_5x": dict(
        _ADELAIDET, backbone="resnet101", deform_interval=3, max_iter=400000, lr_steps=(280000, 360000)
    ),
    # 550 px: P3..P6, one shared tower of 3 GN convs, 2-conv ProtoNet.
    "550_R_50_3x": dict(_ADELAIDET_550, max_iter=270000, lr_steps=(210000, 250000)),
    # BlendMask-RT: P3..P5, shared tower of 3 GN convs, 2-conv ProtoNet, 512 px, trainable BN backbone.
    "RT_R_50_4x_syncbn_shtw": dict(
        _ADELAIDET,
        min_size_train=(256, 288, 320, 352, 384, 416, 448, 480, 512, 544, 576, 608),
        max_size_train=900,
        min_size_test=512,
        max_size_test=736,
        frozen_bn=False,
        freeze_at=0,
        fpn_max_level=5,
        fcos_sizes_of_interest=(64, 128),
        fcos_shared_tower=True,
        fcos_num_convs=3,
        bottom_num_convs=2,
        max_iter=360000,
        lr_steps=(300000, 340000),
    ),
    # 550 px input, 3x schedule.
    "550_R_50": dict(_3X, **_550),
    # BlendMask-RT: one shared tower of 3 convs (BN), P3..P5, Proto-FPN 128 wide, 550 px input.
    "RT_R_50": dict(
        _3X,
        **_550,
        fpn_max_level=5,
        fcos_sizes_of_interest=(64, 128),
        fcos_shared_tower=True,
        fcos_num_convs=3,
        fcos_norm="BN",
        bottom_module="proto_fpn",
    ),
    # Trains to useful masks on 128 px images on 2 CPU cores in minutes (from scratch, no weights):
    # 500 iterations on 400 synthetic shape images -> mask AP 0.61 on 50 val images (0.35 with
    # 64-wide FPN/heads at lr 1e-3).
    "cpu_tiny": dict(
        backbone="resnet18",
        frozen_bn=False,
        freeze_at=0,
        input_format="RGB",
        pixel_mean=IMAGENET_RGB_MEAN,
        pixel_std=IMAGENET_RGB_STD,
        min_size_train=(128,),
        max_size_train=128,
        min_size_test=None,
        max_size_test=None,
        fpn_channels=128,
        fpn_max_level=5,
        fcos_channels=128,
        fcos_num_convs=2,
        fcos_use_scale=True,
        fcos_sizes_of_interest=(32, 64),
        bottom_channels=64,
        bottom_num_convs=1,
        sem_channels=64,
        bottom_resolution=28,
        num_bases=4,
        attn_size=7,
        optimizer="adamw",
        lr=2e-3,
        weight_decay=1e-4,
        batch_size=8,
        max_iter=500,
        warmup_iters=50,
        lr_schedule="cosine",
        lr_steps=(),
        grad_clip=10.0,
    ),
}
