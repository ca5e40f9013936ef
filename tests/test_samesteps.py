"""``--cnnperf-steps-from``: each test trains the steps another run trained it."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from pytest_cnnperf.outcome import TestOutcome
from pytest_cnnperf.plan import WindowPlan
from pytest_cnnperf.results import EpochResult, TrainResult, WindowResult
from pytest_cnnperf.samesteps import window_shape

if TYPE_CHECKING:
    from conftest import ResultsReader


def _run(epochs: tuple[EpochResult, ...], windows: tuple[WindowResult, ...]) -> TrainResult:
    return TrainResult(
        model="tiny",
        dataset="synthetic",
        data_source="synthetic",
        params=330,
        batch_size=32,
        epochs=epochs,
        accuracy=0.9,
        test_images=128,
        device="cpu:0",
        windows=windows,
    )


WARMUP = EpochResult(1, 1.0, 16, 512, 0.7, {}, warmup=True)


def test_the_shape_is_the_first_runs_windows() -> None:
    windows = tuple(WindowResult(i, 0.1, 12, 384, 0.5, 0.002) for i in range(1, 6))
    first, second = _run((WARMUP,), windows), _run((WARMUP,), windows[:3])
    assert window_shape(TestOutcome("t", runs=(first, second))) == WindowPlan(steps=12, count=5)


def test_per_epoch_timing_and_no_run_give_no_shape() -> None:
    measured = EpochResult(2, 0.5, 16, 512, 0.6, {}, warmup=False)
    per_epoch = _run((WARMUP, measured), (WindowResult(1, 0.5, 16, 512, 0.6, None),))
    assert window_shape(TestOutcome("t", runs=(per_epoch,))) is None
    assert window_shape(TestOutcome("t")) is None


TEST = """
from tinymodels import *


@pytest.mark.cnnperf(windows=4)
@pytest_cnnperf.model(tiny_cnn)
@pytest_cnnperf.dataset("synthetic", **SYNTHETIC)
def test_tiny(cnnperf, cnnperf_model, cnnperf_dataset):
    cnnperf.train(cnnperf_model, cnnperf_dataset, batch_size=32)
"""


def test_a_second_run_trains_the_windows_of_the_first(
    pytester: pytest.Pytester, read_results: ResultsReader
) -> None:
    from test_acceptance import TINY

    pytester.makepyfile(tinymodels=TINY, test_perf=TEST)
    pytester.makeini("[pytest]\ncnnperf_epochs = 1\n")
    first = pytester.runpytest_subprocess("--cnnperf-json=first.json")
    assert first.ret == pytest.ExitCode.OK, first.stdout.str()
    # The first run's windows, made longer, stand for a slower machine's.
    document = read_results("first.json")
    windows = document["tests"][0]["runs"][0]["windows"]
    for window in windows:
        window["steps"] = 7
    (pytester.path / "first.json").write_text(json.dumps(document))
    second = pytester.runpytest_subprocess(
        "--cnnperf-steps-from=first.json", "--cnnperf-json=second.json"
    )
    assert second.ret == pytest.ExitCode.OK, second.stdout.str()
    trained = read_results("second.json")["tests"][0]["runs"][0]["windows"]
    assert [w["steps"] for w in trained] == [7] * len(windows)


def test_a_file_that_cannot_be_read_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_nothing="def test_nothing():\n    pass\n")
    result = pytester.runpytest("--cnnperf-steps-from=missing.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: argument --cnnperf-steps-from: Could not read the results file "
            "*missing.json: No such file or directory."
        ]
    )
