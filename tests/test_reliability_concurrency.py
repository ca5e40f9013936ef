"""Two real pytest sessions accepting baselines into one file at once lose no entry.

The store reads, merges and writes under a file lock
(``baselines.store.update_baselines`` -> ``atomicfile.update_text_locked``);
tests/test_atomicfile.py proves the lock with bare processes. This test proves
it end to end: two ``pytest -n 2 --cnnperf-update-baselines`` sessions on
different test files, started together, each wait at a barrier just before
they accept, so that both update the file at the same moment. The file is large
beforehand (thousands of entries), so that each read-merge-write takes long
enough for the two to overlap: without the lock one session's entries are lost.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from test_acceptance_baselines import BUSY

from pytest_cnnperf import environment
from pytest_cnnperf.baselines.store import migrate_3_to_4

#: Entries already in the file: its read, check and rewrite take a few hundred milliseconds.
DUMMY_ENTRIES = 3000
SESSION_SECONDS = 300

TWO_TESTS = BUSY.replace(
    "def test_busy(cnnperf,",
    '@pytest.mark.parametrize("batch", [16, 32])\ndef test_busy(batch, cnnperf,',
).replace("batch_size=32", "batch_size=batch")

# Each session's controller waits here, just before it accepts, until the other is there
# too; then both read, merge and write the file at once. Only the call is delayed: the
# store's own code does the update.
BARRIER = """
import os
import time
from pathlib import Path

import pytest_cnnperf.accept

_update_baselines = pytest_cnnperf.accept.update_baselines


def update_baselines_at_the_barrier(*args, **kwargs):
    barrier = Path(os.environ["CNNPERF_BARRIER"])
    (barrier / f"{os.getpid()}.ready").touch()
    deadline = time.monotonic() + 120
    while len(list(barrier.glob("*.ready"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.001)
    return _update_baselines(*args, **kwargs)


pytest_cnnperf.accept.update_baselines = update_baselines_at_the_barrier
"""


def _dummy_entry(index: int) -> dict[str, object]:
    # Six significant digits, as the store writes them: rewritten, the entry is unchanged.
    seconds = [float(f"{0.05 + index % 7 * 1e-4 + sample * 1e-5:.6g}") for sample in range(8)]
    return {
        "model": "busy_cnn",
        "dataset": "synthetic",
        "batch_size": 32,
        "data_source": "synthetic",
        "metrics": {
            "epoch_seconds": {"center": seconds[4], "spread": 1e-4, "count": 8, "samples": seconds},
            "accuracy": {"center": 0.5, "spread": 0.0, "count": 1, "samples": [0.5]},
        },
        "tolerances": {"epoch_seconds": 0.25, "accuracy": 0.02},
        "software": {"python": "3.11.7", "tensorflow": "2.21.0"},
        "accepted_at": "2026-01-01T00:00:00+00:00",
        "accepted_by": "ana@build-3",
        "reason": "filler",
        "history": [],
    }


def test_two_sessions_accepting_at_once_keep_every_entry(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\n")
    pytester.makepyfile(a=TWO_TESTS, b=TWO_TESTS)
    pytester.makeconftest(BARRIER)
    barrier = pytester.mkdir("barrier")
    directory = pytester.path / "shared-baselines"
    directory.mkdir()
    key = environment.describe_hardware(gpu=False, precision="float32")
    path = directory / f"{key.slug()}.json"
    dummies = {f"filler.py::test_{index}": _dummy_entry(index) for index in range(DUMMY_ENTRIES)}
    path.write_text(
        json.dumps(
            {
                "schema_version": 3,
                "hardware": {
                    "device_kind": key.device_kind,
                    "device_model": key.device_model,
                    "device_count": key.device_count,
                    "precision": key.precision,
                },
                "entries": dummies,
            },
            indent=2,
            sort_keys=True,
        )
    )
    env = {
        **os.environ,
        "CNNPERF_BARRIER": str(barrier),
        "BUSY_WORK": "0",
        "BUSY_EPOCHS": "2",
        "COLUMNS": "200",
    }
    sessions = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pytest",
                "-p",
                "no:cacheprovider",
                "--color=no",
                "-n",
                "2",
                "--cnnperf-update-baselines",
                f"--cnnperf-baseline-dir={directory}",
                name,
            ],
            cwd=pytester.path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for name in ("a.py", "b.py")
    ]
    outputs = []
    try:
        for session in sessions:
            outputs.append(session.communicate(timeout=SESSION_SECONDS)[0])
    finally:
        for session in sessions:
            if session.poll() is None:
                session.kill()
                session.wait()
    for session, output in zip(sessions, outputs, strict=True):
        assert session.returncode == 0, output
        assert f"Accepted the figures of 2 tests as baselines in {path}." in output, output
    # Both controllers reached the barrier: they wrote at the same moment.
    assert len(list(barrier.glob("*.ready"))) == 2

    entries = json.loads(path.read_text())["entries"]
    ours = sorted(name for name in entries if not name.startswith("filler.py::"))
    assert ours == [
        f"{module}::test_busy[busy_cnn-{batch}-synthetic]"
        for module in ("a.py", "b.py")
        for batch in (16, 32)
    ]
    assert len(entries) == DUMMY_ENTRIES + 4
    # Written as schema 3, rewritten as the current schema: migrated, otherwise unchanged.
    migrated = migrate_3_to_4({"schema_version": 3, "entries": {"f": _dummy_entry(7)}})
    assert entries["filler.py::test_7"] == json.loads(json.dumps(migrated["entries"]["f"]))
