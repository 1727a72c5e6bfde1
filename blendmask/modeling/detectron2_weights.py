"""Reading detectron2 / AdelaiDet weight files without executing code, and detectron2 ResNet names.

``read_state_dict`` accepts a torch file (``{"model": state_dict, ...}`` or a bare state_dict,
loaded with ``torch.load(weights_only=True)``) or a pickle of numpy arrays (detectron2 ``.pkl``,
read by an unpickler that only constructs numpy arrays, dtypes and plain builtins).
``msra_resnet_state_dict`` turns the caffe2 names of ``R-50.pkl`` / ``R-101.pkl``
(``res2_0_branch2a_w``) into this project's backbone names.
"""

from __future__ import annotations

import os
import pickle
import re
import zipfile
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

_SAFE_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("collections", "OrderedDict"),
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("builtins", "complex"),
    ("builtins", "bytearray"),
    ("__builtin__", "set"),
    ("__builtin__", "frozenset"),
}


class _NumpyUnpickler(pickle.Unpickler):
    """An unpickler that refuses every global outside numpy arrays/dtypes and plain builtins."""

    def find_class(self, module: str, name: str):
        if (module, name) in _SAFE_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refused to load {module}.{name} (only numpy arrays are allowed)")


def _load_numpy_pickle(path: Path) -> object:
    with path.open("rb") as handle:
        return _NumpyUnpickler(handle, encoding="latin1").load()


def _as_tensor(value: object) -> Tensor | None:
    if isinstance(value, Tensor):
        return value
    if isinstance(value, np.ndarray) and value.dtype != object:
        return torch.from_numpy(np.ascontiguousarray(value))
    return None


def read_state_dict(path: str | os.PathLike) -> dict[str, Tensor]:
    """Tensors of a detectron2 / AdelaiDet checkpoint, read without executing code.

    Raises FileNotFoundError naming the path, or ValueError naming it and saying why it is not
    a checkpoint (unreadable, refused global, or no tensors under ``model``).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {path}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as torch_err:  # not a torch file, or a global that weights_only refuses
        if zipfile.is_zipfile(path):
            reason = str(torch_err).strip().splitlines()[-1]
            raise ValueError(f"{path}: not a loadable torch checkpoint ({reason})") from torch_err
        try:
            obj = _load_numpy_pickle(path)
        except Exception as err:
            raise ValueError(
                f"{path}: not a checkpoint (torch.load(weights_only=True) and the numpy-only "
                f"unpickler both refused it: {type(err).__name__}: {err})"
            ) from err
    if isinstance(obj, dict) and isinstance(obj.get("model"), dict):
        obj = obj["model"]
    elif isinstance(obj, dict) and isinstance(obj.get("blobs"), dict):  # caffe2 pickles
        obj = obj["blobs"]
    if not isinstance(obj, dict) or not obj:
        raise ValueError(f"{path}: not a checkpoint (expected a state_dict or a dict with 'model')")
    tensors = {str(key): _as_tensor(value) for key, value in obj.items()}
    bad = sorted(key for key, value in tensors.items() if value is None)
    if bad:
        raise ValueError(f"{path}: not a state_dict, non-tensor entries {bad[:5]}")
    return tensors  # type: ignore[return-value]


_C2_STAGE = re.compile(r"^res(\d)_(\d+)_branch(1|2a|2b|2c)_(w|bn_s|bn_b|bn_rm|bn_riv)$")
_C2_STEM = re.compile(r"^(conv1_w|res_conv1_bn_(s|b|rm|riv))$")
_BN_FIELD = {"bn_s": "weight", "bn_b": "bias", "bn_rm": "running_mean", "bn_riv": "running_var"}
_BRANCH = {"2a": ("conv1", "bn1"), "2b": ("conv2", "bn2"), "2c": ("conv3", "bn3")}


def msra_key(name: str) -> str | None:
    """Caffe2 MSRA name -> project backbone key (``backbone.body.c3.0.conv1.weight``), None for
    the classifier (``fc1000_*``) and momentum blobs, ValueError for anything else."""
    if name.startswith("fc1000_") or name.endswith("_momentum"):
        return None
    if name == "conv1_w":
        return "backbone.body.stem.0.weight"
    if _C2_STEM.match(name):
        return "backbone.body.stem.1." + _BN_FIELD["bn_" + name.rsplit("_", 1)[1]]
    match = _C2_STAGE.match(name)
    if match is None:
        raise ValueError(f"not a ResNet weight in MSRA caffe2 naming: {name!r}")
    stage, block, branch, field = match.groups()
    prefix = f"backbone.body.c{stage}.{block}."
    conv, norm = ("downsample.0", "downsample.1") if branch == "1" else _BRANCH[branch]
    return prefix + (f"{conv}.weight" if field == "w" else f"{norm}.{_BN_FIELD[field]}")


def msra_resnet_state_dict(source: dict[str, Tensor], eps: float = 1e-5) -> dict[str, Tensor]:
    """MSRA ``R-50.pkl`` tensors -> project backbone state (``backbone.body.*``).

    Their batch norms are affine only; the frozen statistics become mean 0 and variance
    ``1 - eps`` so that the scale is exactly the stored one (detectron2's ``FrozenBatchNorm2d``).
    """
    out: dict[str, Tensor] = {}
    for name, value in source.items():
        key = msra_key(name)
        if key is not None:
            out[key] = value.float()
    for key in [k for k in out if k.endswith(".weight") and (k[:-7] + ".bias") in out and out[k].dim() == 1]:
        base = key[: -len(".weight")]
        out.setdefault(base + ".running_mean", torch.zeros_like(out[key]))
        out.setdefault(base + ".running_var", torch.full_like(out[key], 1.0 - eps))
    return out


def load_backbone_file(backbone: torch.nn.Module, path: str) -> None:
    """Fill a project ``Backbone`` from a detectron2 MSRA ``.pkl`` (or a torch file of the same
    names); every backbone tensor must be present (ValueError listing what is missing or extra)."""
    state = msra_resnet_state_dict(read_state_dict(path))
    prefix = "backbone.body."
    state = {key[len(prefix) :]: value for key, value in state.items()}
    own = backbone.state_dict()
    missing = sorted(k for k in own if k not in state and not k.endswith("num_batches_tracked"))
    extra = sorted(k for k in state if k not in own)
    if missing or extra:
        raise ValueError(
            f"{path}: backbone weights do not fit: missing {missing[:8]}, unexpected {extra[:8]}"
        )
    for key, value in state.items():
        if tuple(value.shape) != tuple(own[key].shape):
            raise ValueError(
                f"{path}: {key} has shape {tuple(value.shape)}, model needs {tuple(own[key].shape)}"
            )
    backbone.load_state_dict(state, strict=False)
