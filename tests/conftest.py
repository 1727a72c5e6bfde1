"""Fixtures shared by several test modules: a free port, torch's thread count, matplotlib's backend and
the reliability tests' tiny trained run."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator

import matplotlib
import pytest
import torch
from reliability_helpers import TinyRun, make_tiny_run


@pytest.fixture(scope="session", autouse=True)
def agg_backend() -> Iterator[None]:
    """Figures render off-screen (Agg) for the whole session; the previous backend comes back after."""
    before = matplotlib.get_backend()
    matplotlib.use("Agg")
    yield
    matplotlib.use(before)


@contextlib.contextmanager
def _torch_threads(count: int) -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    """Tiny tensors run far faster on one intra-op thread when the CPU is shared (no OpenMP waits)."""
    with _torch_threads(1):
        yield


@pytest.fixture(scope="module")
def two_torch_threads() -> Iterator[None]:
    """Two intra-op threads for a module of small-model tests (more only wait on each other)."""
    with _torch_threads(2):
        yield


@pytest.fixture
def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now (for a torch.distributed rendezvous)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> TinyRun:
    """A tiny synthetic set and a 2-iteration checkpoint, made once per module (tests may edit copies)."""
    return make_tiny_run(tmp_path_factory.mktemp("tiny_run"))
