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
    checksum    SHA-256 of every tensor above (names and bytes), verified by :func:`load_checkpoint`
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import random
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import DiskFullError, UsageError

CHECKPOINT_KEYS = ("model", "iteration", "config", "categories")


def _tensors(value: Any, name: str = "") -> Iterator[tuple[str, torch.Tensor]]:
    """Every tensor inside nested dicts / lists / tuples, with a path-like name, in a fixed order."""
    if torch.is_tensor(value):
        yield name, value
    elif isinstance(value, dict):
        for key in sorted(value, key=str):
            yield from _tensors(value[key], f"{name}/{key}")
    elif isinstance(value, list | tuple):
        for position, item in enumerate(value):
            yield from _tensors(item, f"{name}/{position}")


def tensor_checksum(state: dict[str, Any]) -> str:
    """SHA-256 (hex) of the names, dtypes, shapes and bytes of every tensor in ``state``."""
    digest = hashlib.sha256()
    for name, tensor in _tensors({key: value for key, value in state.items() if key != "checksum"}):
        tensor = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def non_finite_weights(weights: dict[str, torch.Tensor]) -> list[str]:
    """Names of the floating-point tensors of a state_dict holding NaN or infinite values."""
    return [
        name
        for name, value in weights.items()
        if value.is_floating_point() and not bool(torch.isfinite(value).all())
    ]


def checkpoint_bytes(state: dict[str, Any]) -> bytes:
    """``state`` with its ``checksum`` added, serialised by ``torch.save`` (a snapshot: later in-place
    updates of the tensors do not change it)."""
    buffer = io.BytesIO()
    torch.save({**state, "checksum": tensor_checksum(state)}, buffer)
    return buffer.getvalue()


def write_atomically(data: bytes, path: str | os.PathLike) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder and ``os.replace``.

    An interrupted or failed write leaves whatever was at ``path`` before untouched; a full disk
    raises DiskFullError naming the folder.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except OSError as error:
        Path(tmp_name).unlink(missing_ok=True)
        if error.errno in (errno.ENOSPC, errno.EDQUOT):
            kept = f"; {path} is left as it was" if path.exists() else ""
            raise DiskFullError(f"no space left on {path.parent} writing {path.name}{kept}") from error
        raise
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return path


def save_checkpoint(state: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write ``state`` (plus its checksum) to ``path`` atomically (see :func:`write_atomically`)."""
    return write_atomically(checkpoint_bytes(state), path)


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Delete the ``.{name}.*.tmp`` files that a write to ``path`` killed mid-way left behind."""
    path = Path(path)
    stale = sorted(path.parent.glob(f".{path.name}.*.tmp")) if path.parent.is_dir() else []
    for tmp in stale:
        tmp.unlink(missing_ok=True)
    return stale


def load_model_weights(
    model: torch.nn.Module, weights: dict[str, torch.Tensor], source: str | os.PathLike
) -> None:
    """``model.load_state_dict(weights)``; weights that do not fit the model raise UsageError."""
    try:
        model.load_state_dict(weights)
    except RuntimeError as error:
        first = next((line.strip() for line in str(error).splitlines()[1:] if line.strip()), str(error))
        raise UsageError(
            f"{source}: its weights do not fit the model of this config ({first}); "
            "use the config (preset, --rkm, --set) the checkpoint was trained with"
        ) from error


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint` with ``weights_only=True``.

    Raises FileNotFoundError naming the path, or ValueError when the file is not a BlendMask
    checkpoint (unreadable, missing one of ``model``, ``iteration``, ``config``, ``categories``,
    or its tensors differ from its checksum). Warns when model weights are NaN or infinite.
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
    if "checksum" in state and tensor_checksum(state) != state["checksum"]:
        raise UsageError(f"{path}: checkpoint is corrupted (its tensors do not match its checksum)")
    bad = non_finite_weights(state["model"])
    if bad:
        warnings.warn(
            f"{path}: {len(bad)} weight tensor(s) hold NaN or infinite values (e.g. {bad[0]}); "
            "its predictions are meaningless, use an earlier checkpoint",
            stacklevel=2,
        )
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
