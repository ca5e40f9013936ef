"""The history file: every run's timing estimate, appended, read to measure the noise.

``--cnnperf-history=PATH`` names a JSON-lines file that every session appends
to, one line per judged test, and reads when it starts: the estimates of
earlier independent runs of a test, measured on the same hardware with the
same arrangement, refine the between-session noise its verdict uses (as
conbench keeps every nightly result). A CI cache keeps the file between runs.

Each line::

    {"node_id": "...", "hardware": "cpu-...-2c-float32", "arrangement": {...},
     "metric": "step_time", "estimates": [0.71], "calibration_seconds": [0.0013],
     "software": {...}, "time": "2026-12-01T09:00:00+00:00"}

Lines are appended with one ``write`` on a file opened with ``O_APPEND``, so
that lines written at once by parallel workers or sessions never interleave;
a line that cannot be parsed (a killed writer) is skipped and counted.
Standard library only.
"""

from __future__ import annotations

import json
import math
import os
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pytest_cnnperf.baselines.stats import geometric_mean


@dataclass(frozen=True)
class HistoryLine:
    """One test's estimates from one session."""

    node_id: str
    hardware: str
    arrangement: Mapping[str, Any]
    metric: str
    estimates: tuple[float, ...]
    calibration_seconds: tuple[float, ...] = ()
    software: Mapping[str, str] = field(default_factory=dict)
    time: str = ""

    def to_json(self) -> str:
        return json.dumps(
            {
                "node_id": self.node_id,
                "hardware": self.hardware,
                "arrangement": dict(self.arrangement),
                "metric": self.metric,
                "estimates": list(self.estimates),
                "calibration_seconds": list(self.calibration_seconds),
                "software": dict(self.software),
                "time": self.time or datetime.now(timezone.utc).isoformat(timespec="seconds"),
            },
            sort_keys=True,
            allow_nan=False,
        )


@dataclass(frozen=True)
class History:
    """The lines of a history file, and how many could not be read."""

    lines: tuple[HistoryLine, ...] = ()
    skipped: int = 0

    def groups(
        self, node_id: str, hardware: str, arrangement: Mapping[str, Any], metric: str
    ) -> list[list[float]]:
        """Groups of earlier estimates of ``node_id``: one per software fingerprint.

        Only lines of the same hardware key and arrangement count. Within a
        group, each session's estimates are independent runs; a TensorFlow
        upgrade starts a new group, so that the level it moved is not taken
        for noise.
        """
        found: dict[str, list[float]] = defaultdict(list)
        for line in self.lines:
            if (
                line.node_id == node_id
                and line.hardware == hardware
                and line.metric == metric
                and _same_arrangement(line.arrangement, arrangement)
            ):
                key = json.dumps(dict(line.software), sort_keys=True)
                # One estimate per session: runs of one session share its moment.
                found[key].append(geometric_mean(line.estimates))
        return list(found.values())


def _same_arrangement(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    keys = ("cores", "threads", "workers")
    return all(a.get(k) == b.get(k) for k in keys)


def _line(raw: object) -> HistoryLine | None:
    if not isinstance(raw, dict):
        return None
    estimates = raw.get("estimates")
    if (
        not isinstance(raw.get("node_id"), str)
        or not isinstance(raw.get("hardware"), str)
        or not isinstance(raw.get("metric"), str)
        or not isinstance(estimates, list)
        or not estimates
        or not all(
            isinstance(x, (int, float)) and not isinstance(x, bool) and x > 0 and math.isfinite(x)
            for x in estimates
        )
    ):
        return None
    arrangement = raw.get("arrangement")
    software = raw.get("software")
    return HistoryLine(
        node_id=raw["node_id"],
        hardware=raw["hardware"],
        arrangement=arrangement if isinstance(arrangement, dict) else {},
        metric=raw["metric"],
        estimates=tuple(float(x) for x in estimates),
        calibration_seconds=tuple(
            float(x) for x in raw.get("calibration_seconds") or () if isinstance(x, (int, float))
        ),
        software={str(k): str(v) for k, v in software.items()}
        if isinstance(software, dict)
        else {},
        time=str(raw.get("time", "")),
    )


def read_history(path: str | os.PathLike[str]) -> History:
    """The readable lines of ``path`` (an absent file is an empty history)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return History()
    lines: list[HistoryLine] = []
    skipped = 0
    for raw_line in text.splitlines():
        if not raw_line.strip():
            continue
        try:
            parsed = _line(json.loads(raw_line))
        except ValueError:
            parsed = None
        if parsed is None:
            skipped += 1
        else:
            lines.append(parsed)
    return History(tuple(lines), skipped)


def append_history(path: str | os.PathLike[str], lines: Sequence[HistoryLine]) -> None:
    """Append ``lines`` to ``path`` in one ``O_APPEND`` write (creating it and its folder)."""
    if not lines:
        return
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    data = "".join(line.to_json() + "\n" for line in lines).encode("utf-8")
    descriptor = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(descriptor, data)
    finally:
        os.close(descriptor)
