"""What per-layer timing, on by default, adds to the CPU suite's time.

Method: the CPU suite (``pytest suites/``, the main job) runs in separate
processes, one after the other, with ``--cnnperf-layers=on`` and ``=off`` in
the order given (``--order on,off,off,on`` alternates them, so that a drift
of the machine's load falls on both modes). Each process writes its results
JSON. Reported per process: wall time, the user and system CPU time of the
process and its children, the load average at the start and the end, and
for "on" processes the window's own cost measured inside the run: the sum of
every run's ``layers.window_seconds`` (warm-up and reference steps, profiled
steps, stopping the profiler, reading and attributing the profile), its share
of the rest of the run, how many tests printed a table and which were
skipped, and each model's coverage (median step of its window). The shares
inside a run are the figure to trust on a shared machine: the wall times of
separate processes move with other work on the host.

Usage: python benchmarks/layer_share.py [--order on,off] [--out benchmarks/out/layer-share]
           [-- extra pytest arguments]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]


def run_suite(mode: str, index: int, out: Path, extra: list[str]) -> dict[str, Any]:
    """One process of the CPU suite with per-layer timing ``mode``; its figures."""
    report = out / f"{index:02d}-{mode}.json"
    report.unlink(missing_ok=True)  # never read an earlier run's figures
    command = [
        sys.executable,
        "-m",
        "pytest",
        "suites/",
        "-q",
        "-p",
        "no:randomly",
        "-p",
        "no:cacheprovider",
        f"--cnnperf-layers={mode}",
        f"--cnnperf-json={report}",
        *extra,
    ]
    load_start = os.getloadavg()
    usage_start = os.times()
    started = time.perf_counter()
    with (out / f"{index:02d}-{mode}.log").open("w") as log:
        returncode = subprocess.run(
            command, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, check=False
        ).returncode
    wall = time.perf_counter() - started
    usage_end = os.times()
    figures: dict[str, Any] = {
        "mode": mode,
        "index": index,
        "returncode": returncode,
        "wall_seconds": wall,
        "cpu_seconds": (usage_end.children_user - usage_start.children_user)
        + (usage_end.children_system - usage_start.children_system),
        "load_start": load_start,
        "load_end": os.getloadavg(),
    }
    if report.exists():
        figures.update(window_figures(json.loads(report.read_text()), wall))
    return figures


def window_figures(document: dict[str, Any], wall: float) -> dict[str, Any]:
    """The profiled windows' cost and coverage, read from one results JSON."""
    window_seconds = 0.0
    windows = 0
    profiled_tests = 0
    skipped: list[str] = []
    coverage: dict[str, list[float]] = defaultdict(list)
    verdicts: dict[str, int] = defaultdict(int)
    for test in document["tests"]:
        verdicts[test["verdict"]] += 1
        tables = 0
        for run in test.get("runs", []):
            block = run.get("layers")
            if not block:
                continue
            window_seconds += float(block.get("window_seconds") or 0.0)
            if block.get("steps"):
                windows += 1
                tables += 1
                if block.get("coverage") is not None:
                    coverage[test["model"]].append(float(block["coverage"]))
        if tables:
            profiled_tests += 1
        elif test.get("runs"):
            skipped.append(test["node_id"])
    return {
        "tests": len(document["tests"]),
        "verdicts": dict(verdicts),
        "window_seconds": window_seconds,
        "profiled_windows": windows,
        "profiled_tests": profiled_tests,
        "skipped_tests": skipped,
        "window_share_of_rest": window_seconds / (wall - window_seconds) if window_seconds else 0.0,
        "coverage": {
            model: {"median": statistics.median(values), "min": min(values), "max": max(values)}
            for model, values in sorted(coverage.items())
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--order", default="on,off", help="modes in order, e.g. on,off,off,on")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "benchmarks/out/layer-share")
    parser.add_argument("extra", nargs="*", help="more pytest arguments (after --)")
    args = parser.parse_args(argv)
    modes = [mode.strip() for mode in args.order.split(",") if mode.strip()]
    unknown = sorted(set(modes) - {"on", "off"})
    if unknown:
        parser.error(f"--order takes on and off only. Received: {', '.join(unknown)}")
    args.out.mkdir(parents=True, exist_ok=True)
    results = []
    for index, mode in enumerate(modes, start=1):
        figures = run_suite(mode, index, args.out, args.extra)
        results.append(figures)
        print(json.dumps(figures, sort_keys=True), flush=True)
    (args.out / "summary.json").write_text(json.dumps(results, indent=2, sort_keys=True))
    print()
    print("run  mode  wall s   cpu s  exit  window s  share of rest  tables  load start -> end")
    for figures in results:
        share = figures.get("window_share_of_rest")
        print(
            f"{figures['index']:>3}  {figures['mode']:<4} {figures['wall_seconds']:7.1f} "
            f"{figures['cpu_seconds']:7.1f} {figures['returncode']:>5} "
            f"{figures.get('window_seconds', 0.0):9.1f} "
            f"{'' if share is None or figures['mode'] == 'off' else f'{share:.1%}':>14} "
            f"{figures.get('profiled_tests', 0):>3}/{figures.get('tests', 0):<3} "
            f"{figures['load_start'][0]:.2f} -> {figures['load_end'][0]:.2f}"
        )
    ons = [f["wall_seconds"] for f in results if f["mode"] == "on"]
    offs = [f["wall_seconds"] for f in results if f["mode"] == "off"]
    if ons and offs:
        print(
            f"median wall on / off: {statistics.median(ons) / statistics.median(offs):.3f} "
            f"({len(ons)} and {len(offs)} processes)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
