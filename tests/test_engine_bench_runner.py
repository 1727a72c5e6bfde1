"""benchmarks/run.py: discovery of bench_*.py modules and the combined JSON."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

# benchmarks/ is not an installed package: load the runner from its file
_SPEC = importlib.util.spec_from_file_location(
    "benchmarks_run", Path(__file__).resolve().parents[1] / "benchmarks" / "run.py"
)
bench_run = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(bench_run)


def _write(directory, name, body):
    (directory / f"bench_{name}.py").write_text(body)


def test_collects_results_errors_and_machine(tmp_path):
    _write(tmp_path, "alpha", "def run():\n    return {'images_per_s': 12.5}\n")
    _write(tmp_path, "broken", "def run():\n    raise RuntimeError('no data')\n")
    _write(tmp_path, "scalar", "def run():\n    return 3\n")
    (tmp_path / "helper.py").write_text("raise SystemExit('not a benchmark')\n")
    report = bench_run.collect(tmp_path)
    assert set(report["benchmarks"]) == {"alpha", "broken", "scalar"}
    assert report["benchmarks"]["alpha"]["result"] == {"images_per_s": 12.5}
    assert "RuntimeError: no data" in report["benchmarks"]["broken"]["error"]
    assert "must return a dict" in report["benchmarks"]["scalar"]["error"]
    assert report["machine"]["cpu_count"] >= 1 and report["machine"]["torch"]


def test_only_selects_and_rejects_unknown_names(tmp_path):
    _write(tmp_path, "alpha", "def run():\n    return {'a': 1}\n")
    _write(tmp_path, "beta", "def run():\n    return {'b': 2}\n")
    assert set(bench_run.collect(tmp_path, only=["beta"])["benchmarks"]) == {"beta"}
    with pytest.raises(ValueError, match="gamma"):
        bench_run.collect(tmp_path, only=["gamma"])


def test_main_writes_json_and_fails_when_a_benchmark_fails(tmp_path):
    _write(tmp_path, "alpha", "def run():\n    return {'a': 1}\n")
    out = tmp_path / "out" / "bench.json"
    assert bench_run.main(["--out", str(out)], directory=tmp_path) == 0
    assert json.loads(out.read_text())["benchmarks"]["alpha"]["result"] == {"a": 1}
    _write(tmp_path, "broken", "def run():\n    raise ValueError('x')\n")
    assert bench_run.main(["--out", str(out)], directory=tmp_path) == 1
