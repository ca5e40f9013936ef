"""Smoke run of a shipped suite: LeNet-5 really trains on real MNIST digits, on CPU.

The third test tier: ``suites/test_seed003_mnist.py -k lenet5`` runs in a
subprocess from the project root, as a user would start it, so that the
project's ``pyproject.toml`` (``cnnperf_data_dir = "../shared/datasets"``) is
the one in force and TensorFlow starts in a fresh process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NODE_ID = "suites/test_seed003_mnist.py::test_lenet5[lenet5-mnist]"


def _clean_environment() -> dict[str, str]:
    # The outer pytest (an xdist worker, say) must not leak its PYTEST_*
    # variables into the run under test.
    return {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}


def test_seed003_lenet5_trains_on_real_mnist(tmp_path: Path) -> None:
    results = tmp_path / "results.json"
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "suites/test_seed003_mnist.py",
            "-k",
            "lenet5",
            "-p",
            "no:cacheprovider",
            f"--cnnperf-json={results}",
            # An empty baseline directory: the verdict does not depend on any
            # baseline accepted on this machine, and nothing is written beside
            # the project.
            f"--cnnperf-baseline-dir={tmp_path / 'baselines'}",
            "--color=no",
        ],
        cwd=ROOT,
        env=_clean_environment(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output
    assert "1 passed, 1 deselected" in completed.stdout

    document = json.loads(results.read_text())
    (test,) = document["tests"]
    assert test["node_id"] == NODE_ID
    assert test["model"] == "lenet5" and test["dataset"] == "mnist"
    assert test["data_source"] == "real", test["runs"][0]["fallback_reason"]
    assert test["verdict"] == "new"
    assert test["params"] == 61_706
    (check,) = test["accuracy_checks"]
    assert check["passed"] is True
    assert check["measured"] == test["accuracy"] >= check["threshold"] > 0.5
    # The warm-up epoch, then the measured passes as at least 20 timed windows.
    assert [epoch["warmup"] for epoch in test["epochs"]] == [True]
    (run,) = test["runs"]
    windows = run["windows"]
    assert len(windows) >= 20
    assert all(w["seconds"] > 0 and w["calibration_seconds"] > 0 for w in windows)
    # At least the test's 2 passes of 63 steps are trained.
    assert sum(w["steps"] for w in windows) >= 2 * 63
