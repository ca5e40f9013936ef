"""Acceptance tests of ``--cnnperf-backend``: a tiny model trained on JAX and on PyTorch.

Every run is a pytester subprocess: a process has one Keras backend, chosen
before Keras is imported. The runs on JAX or PyTorch are skipped only where
that framework is not installed (CI installs both, see .ci/run).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from test_acceptance import PASSING, TINY

from pytest_cnnperf import environment

if TYPE_CHECKING:
    from conftest import ResultsReader

NODE = "test_perf.py::test_tiny[tiny_cnn-synthetic]"
NODE_PATTERN = "test_perf.py::test_tiny[[]tiny_cnn-synthetic[]]"
INI = "[pytest]\ncnnperf_epochs = 2\ncnnperf_windows = 0\n"
#: The packages each backend records in the environment block's ``software``.
PACKAGES = {"jax": ("jax", "jaxlib"), "torch": ("torch",)}


def require(backend: str) -> None:
    """Skip unless ``backend``'s framework is installed (found, not imported here)."""
    for package in PACKAGES[backend]:
        if importlib.util.find_spec(package) is None:
            pytest.skip(
                f"{package} is not installed; pip install 'pytest-cnnperf[{backend}]' runs "
                "this test"
            )


def baseline_path(pytester: pytest.Pytester, backend: str) -> Path:
    """Where a CPU float32 run on ``backend`` keeps its baselines in the pytester project."""
    key = environment.describe_hardware(gpu=False, precision="float32", backend=backend)
    return pytester.path / "baselines" / f"{key.slug()}.json"


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """The tiny model's passing test, timed per epoch (see test_acceptance.py)."""
    # Each run names its backend; none is inherited from the process running these tests.
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    pytester.makepyfile(tinymodels=TINY)
    pytester.makepyfile(test_perf="from tinymodels import *\n\n" + textwrap.dedent(PASSING))
    pytester.makeini(INI)
    return pytester


# --------------------------------------------------------------------------- training


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_a_tiny_model_trains_and_is_compared_with_its_own_baseline(
    project: pytest.Pytester, read_results: ResultsReader, backend: str
) -> None:
    require(backend)
    path = baseline_path(project, backend)
    assert path.name.endswith(f"-float32-{backend}.json")

    first = project.runpytest_subprocess(
        "--color=no",
        f"--cnnperf-backend={backend}",
        "--cnnperf-json=first.json",
        "--cnnperf-update-baselines",
    )
    first.assert_outcomes(passed=1)
    first.stdout.fnmatch_lines(
        [
            # Both measure per-layer times (test_acceptance_jax_layers.py, test_torch_layers.py).
            f"{NODE_PATTERN}: time per layer*",
            f"Accepted the figures of 1 test as baselines in {path}.",
        ]
    )
    document = read_results("first.json")
    software = document["environment"]["software"]
    device = document["environment"]["device"]
    assert device["backend"] == backend
    # The backend's own device names; the TensorFlow-only field is absent.
    assert device["devices"] == {"jax": ["cpu:0"], "torch": ["cpu"]}[backend]
    assert "tensorflow_devices" not in device
    assert software["keras_backend"] == backend
    for package in PACKAGES[backend]:
        assert software[package] == importlib.metadata.version(package)
    assert "tensorflow" not in software
    (test,) = document["tests"]
    assert test["verdict"] == "new"
    (run,) = test["runs"]
    assert run["layers"]["steps"] > 0
    assert [layer["name"] for layer in run["layers"]["layers"]] == ["conv", "flatten", "head"]
    assert [name for name in test["metrics"] if name.startswith("layer_seconds/")]

    stored = json.loads(path.read_text())
    assert stored["hardware"]["backend"] == backend
    entry = stored["entries"][NODE]
    assert entry["software"]["keras_backend"] == backend
    assert [p.name for p in path.parent.glob("*.json")] == [path.name]

    # The ini twin selects the backend as well; the run finds the baseline just
    # accepted. Noise on a shared machine decides which verdict, not whether one.
    project.makeini(f"{INI}cnnperf_backend = {backend}\n")
    second = project.runpytest_subprocess(
        "--color=no", "--cnnperf-json=second.json", "--cnnperf-tolerance=200%",
        "--cnnperf-compare=warn",
    )  # fmt: skip
    second.assert_outcomes(passed=1)
    document = read_results("second.json")
    assert document["environment"]["device"]["backend"] == backend
    (test,) = document["tests"]
    assert test["verdict"] != "new"
    assert test["comparison"]["node_id"] == NODE
    assert test["comparison"]["baseline"]["accepted_at"] == entry["accepted_at"]
    assert set(test["comparison"]["metrics"]) == {"step_time", "accuracy"}


def test_a_tensorflow_baseline_is_not_used_by_a_jax_run(
    project: pytest.Pytester, baseline_file: Path, read_results: ResultsReader
) -> None:
    require("jax")
    accepted = project.runpytest_subprocess("--color=no", "--cnnperf-update-baselines")
    accepted.assert_outcomes(passed=1)
    tensorflow_text = baseline_file.read_text()
    assert "backend" not in json.loads(tensorflow_text)["hardware"]
    jax_path = baseline_path(project, "jax")

    result = project.runpytest_subprocess(
        "--color=no", "--cnnperf-backend=jax", "--cnnperf-json=jax.json",
        "--cnnperf-require-baseline",
    )  # fmt: skip
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [f"No baseline for {NODE_PATTERN} on this hardware in {jax_path} (measured step_time *"]
    )
    (test,) = read_results("jax.json")["tests"]
    assert test["comparison"]["verdict"] == "new"
    assert test["comparison"]["baseline"] is None
    assert baseline_file.read_text() == tensorflow_text
    assert not jax_path.exists()


# --------------------------------------------------------------------------- usage errors


def test_an_unknown_backend_option_is_a_usage_error(project: pytest.Pytester) -> None:
    result = project.runpytest_subprocess("--cnnperf-backend=cntk")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*: error: argument --cnnperf-backend: expected one of tensorflow, jax, torch, got 'cntk'"]
    )


def test_an_unknown_backend_in_the_ini_file_is_a_usage_error(project: pytest.Pytester) -> None:
    project.makeini(f"{INI}cnnperf_backend = cntk\n")
    result = project.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: ini option cnnperf_backend = 'cntk': expected one of tensorflow, jax, "
            "torch, got 'cntk'"
        ]
    )


def test_an_unknown_keras_backend_variable_is_a_usage_error(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KERAS_BACKEND", "cntk")
    result = project.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: Expected KERAS_BACKEND to be one of tensorflow, jax, torch. "
            "Received: KERAS_BACKEND='cntk'"
        ]
    )


def test_a_backend_asked_for_after_a_conftest_imported_keras_is_a_usage_error(
    project: pytest.Pytester,
) -> None:
    project.makeconftest(
        """
        import os

        os.environ["KERAS_BACKEND"] = "tensorflow"
        import keras
        """
    )
    result = project.runpytest_subprocess("--cnnperf-backend=jax")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: --cnnperf-backend=jax must be decided before Keras is imported, but Keras "
            "was already imported in this process with the tensorflow backend (by a "
            "conftest.py or plugin loaded earlier). Set KERAS_BACKEND=jax in the environment "
            "instead, or import Keras only inside tests."
        ]
    )
