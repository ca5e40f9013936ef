"""Where the CPU suite's time goes: warm-up, timed windows, the layer window, the rest.

Reads a results file (``--cnnperf-json``) and the ``--durations=0`` output of
the same run, and sums per test:

- warm-up: the warm-up epochs (graph tracing included);
- windows: the timed windows and the reference kernel after each;
- layers: the profiled per-layer window;
- rest: the test's setup and call time less those (building, compiling,
  preparing data, evaluation, comparison, confirmation runs' other parts).

Usage::

    pytest suites/ -q -p no:cacheprovider --durations=0 --cnnperf-json=results.json | tee run.log
    python benchmarks/suite_time.py results.json run.log
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

DURATION = re.compile(r"^\s*([\d.]+)s (setup|call|teardown)\s+(\S+)")


def durations(log: Path) -> dict[str, float]:
    seconds: dict[str, float] = {}
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        found = DURATION.match(line)
        if found:
            node = found.group(3)
            seconds[node] = seconds.get(node, 0.0) + float(found.group(1))
    return seconds


def parts(test: dict[str, Any]) -> dict[str, float]:
    runs = test.get("runs") or []
    return {
        "warm-up": sum(e["seconds"] for r in runs for e in r["epochs"] if e.get("warmup")),
        "windows": sum(
            w["seconds"] + (w.get("calibration_seconds") or 0.0)
            for r in runs
            for w in r.get("windows") or []
        ),
        "layers": sum((r.get("layers") or {}).get("window_seconds") or 0.0 for r in runs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path)
    parser.add_argument("log", type=Path)
    args = parser.parse_args()
    tests = json.loads(args.results.read_text(encoding="utf-8"))["tests"]
    spent = durations(args.log)
    missing = [t["node_id"] for t in tests if t["node_id"] not in spent]
    if missing:
        raise SystemExit(
            f"{args.log} has no --durations=0 line for {len(missing)} of the results' tests "
            f"(first: {missing[0]}); run pytest with --durations=0 and keep its output."
        )
    totals = {"warm-up": 0.0, "windows": 0.0, "layers": 0.0, "rest": 0.0}
    for test in tests:
        found = parts(test)
        found["rest"] = spent[test["node_id"]] - sum(found.values())
        for name, value in found.items():
            totals[name] += value
    whole = sum(totals.values())
    print(f"{len(tests)} tests, {whole:.0f} s of setup and call time:")
    for name, value in totals.items():
        print(f"  {name:8s} {value:6.0f} s  {value / whole:5.1%}")


if __name__ == "__main__":
    main()
