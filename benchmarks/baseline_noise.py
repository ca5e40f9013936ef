"""The between-session noise a baseline file holds: each entry's log-SD over its sessions.

For every entry accepted from several sessions (``timing.sessions``), the
log-SD of its session estimates of ``step_time`` (the judged figure, over the
reference kernel) and of its raw seconds per step, as the timing rule forms
them (``compare.session_estimates``, ``stats.pooled_log_sd``). Prints the
median and range over the entries, and the pooled figure. Usage::

    PYTHONPATH=. python benchmarks/baseline_noise.py baselines/cpu-amd-epyc-2c-float32.json
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from pytest_cnnperf.baselines.compare import session_estimates
from pytest_cnnperf.baselines.stats import pooled_log_sd


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("baselines", type=Path)
    args = parser.parse_args()
    entries = json.loads(args.baselines.read_text(encoding="utf-8"))["entries"]
    groups: dict[str, list[list[float]]] = {"step_time (judged)": [], "raw seconds per step": []}
    for entry in entries.values():
        timing = entry.get("timing") or {}
        sessions = timing.get("sessions")
        if not isinstance(sessions, int) or sessions < 2:
            continue
        judged = entry["metrics"]["step_time"]["samples"]
        raw = [run["step_seconds"] for run in timing["runs"]]
        groups["step_time (judged)"].append(session_estimates(judged, sessions))
        groups["raw seconds per step"].append(session_estimates(raw, sessions))
    if not groups["step_time (judged)"]:
        raise SystemExit(f"{args.baselines} has no entry accepted from two or more sessions.")
    print(f"{len(groups['step_time (judged)'])} entries accepted from separate sessions")
    for name, estimates in groups.items():
        each = [pooled_log_sd([group])[0] for group in estimates]
        pooled, dof = pooled_log_sd(estimates)
        print(
            f"  {name:22s} log-SD median {statistics.median(each):.3f} "
            f"(range {min(each):.3f} to {max(each):.3f}), pooled {pooled:.3f} ({dof} dof)"
        )


if __name__ == "__main__":
    main()
