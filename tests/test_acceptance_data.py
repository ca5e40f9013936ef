"""Acceptance tests of where data comes from: real files, or an honest synthetic stand-in."""

from __future__ import annotations

import gzip
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import ResultsReader

MNIST_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"

TESTS = textwrap.dedent(
    """
    import pytest_cnnperf


    def tiny_cnn(input_shape, num_classes):
        from pytest_cnnperf.backends.imports import import_keras
        keras = import_keras()
        return keras.Sequential(
            [
                keras.Input(input_shape),
                keras.layers.Conv2D(8, 3, strides=2, activation="relu", name="conv"),
                keras.layers.Flatten(name="flatten"),
                keras.layers.Dense(num_classes, activation="softmax", name="head"),
            ],
            name="tiny_cnn",
        )


    @pytest_cnnperf.model(tiny_cnn)
    @pytest_cnnperf.dataset("cifar10", train_size=300, test_size=100)
    def test_cifar(cnnperf, cnnperf_model, cnnperf_dataset):
        result = cnnperf.train(cnnperf_model, cnnperf_dataset, epochs=1, learning_rate=0.01)
        cnnperf.check_accuracy(result, at_least=0.999)


    @pytest_cnnperf.model(tiny_cnn)
    @pytest_cnnperf.dataset("mnist", train_size=2000, test_size=500, split="test")
    def test_mnist(cnnperf, cnnperf_model, cnnperf_dataset):
        result = cnnperf.train(cnnperf_model, cnnperf_dataset, epochs=2, learning_rate=0.01)
        cnnperf.check_accuracy(result, at_least=0.8)
    """
)


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    # No data set anywhere but where a test points: an empty Keras cache, no
    # CNNPERF_DATA_DIR.
    monkeypatch.setenv("KERAS_HOME", str(pytester.path / "keras-home"))
    monkeypatch.delenv("CNNPERF_DATA_DIR", raising=False)
    pytester.makepyfile(test_data=TESTS)
    return pytester


def test_auto_falls_back_to_synthetic_and_says_so(
    project: pytest.Pytester, read_results: ResultsReader
) -> None:
    # Per-epoch timing (windows=0) trains exactly the test's passes: with windows
    # the tiny model can train longer and reach the impossible-looking floor.
    result = project.runpytest_subprocess(
        "--color=no",
        "--cnnperf-offline",
        "--cnnperf-json=out.json",
        "--cnnperf-windows=0",
        "-k",
        "cifar",
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "Accuracy of tiny_cnn on cifar10 (synthetic data, 100 held-out images); synthetic "
            "data stood in because no CIFAR-10 files found*: 0.*, below the required 0.9990.",
            "*  synthetic data stood in for cifar10: *",
            "*tiny_cnn*cifar10 (synthetic)*failed*",
        ]
    )
    (test,) = read_results("out.json")["tests"]
    assert test["data_source"] == "synthetic"
    assert test["runs"][0]["fallback_reason"]
    assert test["params"] == (3 * 3 * 3 * 8 + 8) + (15 * 15 * 8 * 10 + 10)


def test_real_mode_fails_naming_every_place_looked_in(project: pytest.Pytester) -> None:
    result = project.runpytest_subprocess(
        "--color=no", "--cnnperf-offline", "--cnnperf-data=real", "-k", "cifar"
    )
    result.assert_outcomes(errors=1)
    output = result.stdout.str()
    assert str(project.path / "keras-home" / "datasets") in output
    assert "CNNPERF_DATA_DIR" in output and "--cnnperf-data-dir" in output
    assert "Traceback" not in output
    # Said once, not again as the exception being handled when the test failed
    # (the short test summary after it repeats its first line, as for any test).
    report = output.split("short test summary info")[0]
    assert report.count("Could not find the CIFAR-10 files. Looked in:") == 1
    assert "During handling of the above exception" not in output


def test_truncated_gzip_file_is_reported_once(project: pytest.Pytester) -> None:
    data = project.path / "data"
    data.mkdir()
    complete = gzip.compress(bytes([0, 0, 8, 3]) + bytes(1000))
    for stem in (
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ):
        (data / f"{stem}.gz").write_bytes(complete[: len(complete) // 2])
    result = project.runpytest_subprocess("--color=no", f"--cnnperf-data-dir={data}", "-k", "mnist")
    result.assert_outcomes(errors=1)
    output = result.stdout.str()
    message = (
        f"{data / 't10k-images-idx3-ubyte.gz'} is not a complete gzip file (Compressed file "
        "ended before the end-of-stream marker was reached). Expected the file as distributed; "
        "replace it with a fresh copy."
    )
    assert output.split("short test summary info")[0].count(message) == 1, output
    assert "During handling of the above exception" not in output
    assert "The above exception was the direct cause" not in output
    assert "Traceback" not in output


def test_real_mnist_digits_from_the_data_dir(
    project: pytest.Pytester, read_results: ResultsReader
) -> None:
    result = project.runpytest_subprocess(
        "--color=no",
        f"--cnnperf-data-dir={MNIST_DIR}",
        "--cnnperf-data=real",
        "--cnnperf-json=out.json",
        "-k",
        "mnist",
    )
    result.assert_outcomes(passed=1)
    (test,) = read_results("out.json")["tests"]
    assert test["data_source"] == "real"
    assert test["accuracy"] >= 0.8
    assert test["accuracy_checks"] == [
        {"threshold": 0.8, "measured": test["accuracy"], "passed": True}
    ]
