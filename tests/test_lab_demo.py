"""The demo's schedule: ``iters`` (or the default budget) fits the cpu_tiny schedule by with_iters."""

from __future__ import annotations

import pytest

from blendmask import BlendMaskConfig
from blendmask.lab import demo


class _Trained(Exception):
    """Stops the demo once train() has seen its config."""


@pytest.mark.parametrize("iters", [7, None])
def test_demo_trains_on_the_preset_fitted_by_with_iters(tmp_path, monkeypatch, iters):
    seen = []

    def capture(cfg, *args, **kwargs):
        seen.append(cfg)
        raise _Trained

    monkeypatch.setattr(demo, "train", capture)
    with pytest.raises(_Trained):
        demo.run_demo(tmp_path, iters=iters, num_train=2, num_val=1, device="cpu", progress=False)
    (cfg,) = seen
    names = list(cfg.class_names)
    expected = BlendMaskConfig.from_preset(
        "cpu_tiny", **demo.DEMO_OVERRIDES, num_classes=len(names), class_names=names
    ).with_iters(iters or demo.DEMO_ITERS)
    assert cfg == expected and names
