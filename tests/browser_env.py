"""Where the browser tests find Chromium and playwright, and whether their absence may be a skip.

With ``BLENDMASK_REQUIRE_BROWSER=1`` (set by ``.ci/run``) a missing Chromium or playwright fails
the browser tests instead of skipping them, so a green CI run means they ran.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
REQUIRE_ENV = "BLENDMASK_REQUIRE_BROWSER"
TOKEN = "blendmask-lab-test"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _missing(reason: str):
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{reason}, and {REQUIRE_ENV}=1 requires the browser tests to run", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


def require_browser():
    """playwright's sync API, once Chromium is at ``CHROMIUM`` (else skip, or fail when required)."""
    try:
        sync_api = importlib.import_module("playwright.sync_api")
    except ImportError:
        _missing("playwright is not installed (pip install -e '.[dev]')")
    if not CHROMIUM.exists():
        _missing(f"no Chromium at {CHROMIUM} (Debian: apt-get install -y chromium)")
    return sync_api


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def jupyter_lab(root: Path) -> Iterator[str]:
    """A JupyterLab server (as root too) on a free port serving ``root``; yields its base URL."""
    port = _free_port()
    log_path = root / "lab.log"
    with log_path.open("w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", f"--port={port}",
             f"--ServerApp.token={TOKEN}", f"--ServerApp.root_dir={root}"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(240):
                try:
                    urllib.request.urlopen(f"{url}/api/status?token={TOKEN}", timeout=2)
                    break
                except OSError:
                    time.sleep(0.5)
            else:
                pytest.fail(f"JupyterLab did not start: {log_path.read_text()[-2000:]}")
            yield url
        finally:
            server.terminate()
            server.wait(timeout=30)


def committed_notebooks() -> list:
    """The committed notebooks as pytest params named by their stem."""
    notebooks = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
    return [pytest.param(path, id=path.stem) for path in notebooks]
