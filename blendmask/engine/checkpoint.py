"""Checkpoint files: atomic writes and safe loads (``torch.load(weights_only=True)``).

A checkpoint is a plain dict of tensors and primitive containers only, so that loading it can
never execute code:

    model       state_dict of the model (unwrapped from DDP)
    optimizer   optimizer.state_dict()
    scheduler   lr scheduler state_dict()
    scaler      GradScaler state_dict() or {} when AMP scaling is off
    iteration   number of completed iterations
    rng         random states (see ``rng_state``)
    config      BlendMaskConfig.to_dict()
    categories  class names in contiguous-label order (list of str)
"""

from __future__ import annotations

import os
import random
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

CHECKPOINT_KEYS = ("model", "iteration", "config", "categories")


def save_checkpoint(state: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write ``state`` to ``path`` atomically: a temporary file in the same folder, then ``os.replace``.

    An interrupted write leaves whatever was at ``path`` before untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(state, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint` with ``weights_only=True``.

    Raises FileNotFoundError naming the path, or ValueError when the file is not a BlendMask
    checkpoint (unreadable, or missing one of ``model``, ``iteration``, ``config``, ``categories``).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # pickle errors, truncated files, disallowed globals
        raise ValueError(f"{path}: not a loadable checkpoint ({type(err).__name__}: {err})") from err
    if not isinstance(state, dict):
        raise ValueError(f"{path}: checkpoint must hold a dict, found {type(state).__name__}")
    missing = [key for key in CHECKPOINT_KEYS if key not in state]
    if missing:
        raise ValueError(f"{path}: checkpoint lacks the field(s) {', '.join(missing)}")
    return state


def rng_state() -> dict[str, Any]:
    """Every random state that training touches, as tensors and primitive containers."""
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()  # noqa: NPY002 (the global state is what we save)
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "python": list(random.getstate()[1]),
        "python_version": random.getstate()[0],
        "python_gauss": random.getstate()[2],
        "numpy": {
            "name": str(np_name),
            "keys": torch.from_numpy(np.asarray(np_keys, dtype=np.int64)),
            "pos": int(np_pos),
            "has_gauss": int(np_has_gauss),
            "gauss": float(np_gauss),
        },
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore the states captured by :func:`rng_state`."""
    torch.set_rng_state(state["torch"])
    random.setstate((state["python_version"], tuple(state["python"]), state["python_gauss"]))
    numpy_state = state["numpy"]
    np.random.set_state(  # noqa: NPY002
        (
            numpy_state["name"],
            numpy_state["keys"].numpy().astype(np.uint32),
            numpy_state["pos"],
            numpy_state["has_gauss"],
            numpy_state["gauss"],
        )
    )
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])
