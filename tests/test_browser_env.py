"""The browser tests skip without Chromium, and fail instead when CI requires them."""

from __future__ import annotations

import subprocess
from pathlib import Path

import browser_env
import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_a_missing_chromium_skips_unless_required(monkeypatch, tmp_path):
    monkeypatch.setattr(browser_env, "CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.delenv(browser_env.REQUIRE_ENV, raising=False)
    with pytest.raises(pytest.skip.Exception, match="no Chromium"):
        browser_env.require_browser()
    monkeypatch.setenv(browser_env.REQUIRE_ENV, "1")
    with pytest.raises(pytest.fail.Exception, match="requires the browser tests to run"):
        browser_env.require_browser()


def test_ci_installs_chromium_requires_the_browser_tests_and_runs_make_test():
    script = (ROOT / ".ci" / "run").read_text()
    subprocess.run(["bash", "-n", str(ROOT / ".ci" / "run")], check=True)
    assert "apt-get install -y chromium" in script and "/usr/bin/chromium" in script
    assert f"export {browser_env.REQUIRE_ENV}=1" in script
    assert script.rstrip().splitlines()[-1] == "make test"
