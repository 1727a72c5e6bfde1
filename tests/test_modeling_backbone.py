"""Backbone + FPN: the extra levels P6/P7 are built only for the configs that use them."""

from __future__ import annotations

import pytest

from blendmask import BlendMaskConfig
from blendmask.modeling import backbone


@pytest.mark.parametrize(("max_level", "expected"), [(5, []), (6, ["LastLevelP6"]), (7, ["LastLevelP6P7"])])
def test_only_the_extra_block_in_use_is_built(monkeypatch, max_level, expected):
    """An unused block would still draw from the random generator and shift the seeded
    initialisation of every layer built after it (the seed-0 demo model would change)."""
    built = []
    for name in ("LastLevelP6", "LastLevelP6P7"):
        original = getattr(backbone, name)

        def record(*args, _name=name, _original=original, **kwargs):
            built.append(_name)
            return _original(*args, **kwargs)

        monkeypatch.setattr(backbone, name, record)
    sizes = (32, 64, 128, 256)[: max_level - 3]  # one fewer than the levels
    cfg = BlendMaskConfig.from_preset(
        "cpu_tiny", num_classes=2, fpn_max_level=max_level, fcos_sizes_of_interest=sizes
    )
    fpn = backbone.BackboneFPN(cfg)
    assert built == expected
    assert (fpn.fpn.extra_blocks is None) == (max_level == 5)
