"""Mixed precision for training: the autocast dtype (and loss scaling) per device, and whether the
CPU computes bfloat16 natively."""

from __future__ import annotations

import torch


def cpu_has_fast_bf16() -> bool:
    """True when the CPU computes bfloat16 natively (AVX512-BF16 or AMX), where CPU autocast pays off."""
    return torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()


def amp_settings(device: torch.device, amp: bool | None) -> tuple[torch.dtype | None, bool]:
    """(autocast dtype or None, whether a GradScaler is needed).

    CUDA: on unless ``amp`` is False; bfloat16 where supported, else float16 with loss scaling.
    CPU: bfloat16 only when ``amp`` is True.
    """
    if amp is False or (device.type != "cuda" and not amp):
        return None, False
    if device.type != "cuda" or torch.cuda.is_bf16_supported():
        return torch.bfloat16, False
    return torch.float16, True
