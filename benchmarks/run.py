"""Run every ``benchmarks/bench_*.py`` module's ``run() -> dict`` and write all results into one JSON file.

    python -m benchmarks.run --out outputs/bench.json [--only model,data]

The file holds the machine's description and, per benchmark, its result (or the error it raised)
and the seconds it took. The exit status is 1 when a benchmark failed.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def machine() -> dict[str, Any]:
    """Where the numbers come from: CPU, threads, library versions, GPU."""
    import torch

    info: dict[str, Any] = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
    return info


def discover(directory: Path = HERE) -> dict[str, Path]:
    """``bench_NAME.py`` files of ``directory`` by NAME, sorted."""
    return {path.stem.removeprefix("bench_"): path for path in sorted(directory.glob("bench_*.py"))}


def run_one(path: Path) -> dict[str, Any]:
    """Import the module at ``path`` and call its ``run()`` -> {"result" or "error", "seconds"}."""
    start = time.perf_counter()
    try:
        spec = importlib.util.spec_from_file_location(f"benchmarks.{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        result = module.run()
        if not isinstance(result, dict):
            raise TypeError(f"{path.name}: run() must return a dict, got {type(result).__name__}")
        entry: dict[str, Any] = {"result": result}
    except Exception as error:  # one failing benchmark must not hide the others
        entry = {"error": f"{type(error).__name__}: {error}", "traceback": traceback.format_exc()}
    entry["seconds"] = round(time.perf_counter() - start, 3)
    return entry


def collect(directory: Path = HERE, only: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the benchmarks of ``directory`` (all, or the NAMEs in ``only``) -> {"machine", "benchmarks"}."""
    found = discover(directory)
    if only:
        unknown = sorted(set(only) - set(found))
        if unknown:
            raise ValueError(f"no benchmark named {', '.join(unknown)}; found {', '.join(found) or 'none'}")
        found = {name: path for name, path in found.items() if name in only}
    results = {}
    for name, path in found.items():
        print(f"benchmark {name} ...", file=sys.stderr, flush=True)
        results[name] = run_one(path)
    return {"machine": machine(), "benchmarks": results}


def main(argv: Sequence[str] | None = None, *, directory: Path = HERE) -> int:
    """Command line: run the benchmarks of ``directory``, write the JSON, exit 1 when one failed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="JSON file to write")
    parser.add_argument("--only", help="comma-separated benchmark names (bench_NAME.py), default all")
    args = parser.parse_args(argv)
    report = collect(directory, only=args.only.split(",") if args.only else None)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    failed = [name for name, entry in report["benchmarks"].items() if "error" in entry]
    summary = f"{len(report['benchmarks'])} benchmarks -> {out}"
    print(summary + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
