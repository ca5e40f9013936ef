"""What pytest-cnnperf adds to pytest start-up in a project that does not use it.

Runs ``pytest --collect-only -q`` on a one-test project many times, alternating
runs with the plugin (installed entry point) and without it (``-p no:cnnperf``),
and reports the median of each and the median of the paired differences.
Alternating the two in one run keeps a shared, noisy machine from favouring
either side; pairing them cancels slow spells that hit both runs of a pair.

Also checks that importing the entry point loads none of the heavy modules.

Usage: python benchmarks/plugin_load.py [--runs 40]

Run it from an environment with a regular (not editable) install to measure
what users pay: an editable install adds its own import hook to the first
import of the package.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HEAVY = ("tensorflow", "keras", "numpy", "pynvml", "rich")


def time_pytest(project: Path, extra: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *extra],
        cwd=project,
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - started


def heavy_modules_at_load() -> list[str]:
    code = (
        "import sys, pytest_cnnperf.plugin\n"
        f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return out.stdout.split()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40, help="runs of each kind (default: 40)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        (project / "test_unrelated.py").write_text("def test_one():\n    assert True\n")
        (project / "pytest.ini").write_text("[pytest]\n")
        time_pytest(project, [])  # warm the file system cache
        with_plugin, without_plugin = [], []
        for _ in range(args.runs):
            with_plugin.append(time_pytest(project, []))
            without_plugin.append(time_pytest(project, ["-p", "no:cnnperf"]))
    med_with = statistics.median(with_plugin) * 1000
    med_without = statistics.median(without_plugin) * 1000
    added = (
        statistics.median(w - wo for w, wo in zip(with_plugin, without_plugin, strict=True)) * 1000
    )
    heavy = heavy_modules_at_load()
    print(f"pytest --collect-only, median of {args.runs} alternating runs")
    print(f"  without pytest-cnnperf: {med_without:7.1f} ms")
    print(f"  with pytest-cnnperf:    {med_with:7.1f} ms")
    print(
        f"  added by the plugin:    {added:7.1f} ms (median of paired differences; target < 50 ms)"
    )
    print(f"  heavy modules imported by the entry point: {', '.join(heavy) or 'none'}")
    return 0 if added < 50 and not heavy else 1


if __name__ == "__main__":
    sys.exit(main())
