"""Acceptance tests: the plugin driven through pytester, with a tiny model.

Each run that trains happens in a subprocess: TensorFlow's device set-up is
once per process, as it is for a user.
"""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import ResultsReader

TINY = textwrap.dedent(
    """
    import numpy as np
    import pytest
    import pytest_cnnperf
    from pytest_cnnperf.datasets import Dataset


    def tiny_cnn(input_shape, num_classes):
        from pytest_cnnperf.backends.imports import import_keras
        keras = import_keras()
        return keras.Sequential(
            [
                keras.Input(input_shape),
                keras.layers.Conv2D(4, 3, activation="relu", name="conv"),
                keras.layers.Flatten(name="flatten"),
                keras.layers.Dense(num_classes, activation="softmax", name="head"),
            ],
            name="tiny_cnn",
        )


    def tiny_dense(input_shape, num_classes):
        from pytest_cnnperf.backends.imports import import_keras
        keras = import_keras()
        return keras.Sequential(
            [keras.Input(input_shape), keras.layers.Flatten(),
             keras.layers.Dense(num_classes, activation="softmax")],
            name="tiny_dense",
        )


    def random_labels():
        rng = np.random.default_rng(0)
        x = rng.integers(0, 255, size=(400, 8, 8, 1), dtype=np.uint8)
        y = rng.integers(0, 10, size=400)
        return x[:300], y[:300], x[300:], y[300:]


    def poisoned():
        x_train, y_train, x_test, y_test = random_labels()
        x_train = x_train.astype("float32")
        x_train[5] = np.nan
        return x_train, y_train, x_test, y_test


    SYNTHETIC = dict(train_size=512, test_size=128, input_shape=(8, 8, 1), num_classes=2)
    """
)


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(tinymodels=TINY)
    # These tests check the per-epoch tables, the JSON layout and seeding of
    # per-epoch timing, which windows=0 keeps; windowed timing and its
    # verdicts are tested in test_acceptance_verdicts.py.
    pytester.makeini("[pytest]\ncnnperf_epochs = 2\ncnnperf_windows = 0\n")
    return pytester


def _write_test(pytester: pytest.Pytester, body: str) -> None:
    pytester.makepyfile(test_perf="from tinymodels import *\n\n" + textwrap.dedent(body))


PASSING = """
@pytest_cnnperf.model(tiny_cnn)
@pytest_cnnperf.dataset("synthetic", **SYNTHETIC)
def test_tiny(cnnperf, cnnperf_model, cnnperf_dataset):
    result = cnnperf.train(cnnperf_model, cnnperf_dataset, batch_size=32, learning_rate=0.01)
    assert len(result.epochs) == 3
    assert [e.warmup for e in result.epochs] == [True, False, False]
    assert result.epoch_seconds_median > 0
    cnnperf.check_accuracy(result, at_least=0.6)
"""


def test_passing_run_prints_epoch_table_and_summary(project: pytest.Pytester) -> None:
    _write_test(project, PASSING)
    result = project.runpytest_subprocess("--color=no")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "*= cnnperf =*",
            "*test_perf.py::test_tiny[[]tiny_cnn-synthetic[]]*",
            "*epoch*seconds*steps*images/s*loss*accuracy*",
            "*1 *warm-up*",
            "*cnnperf summary*",
            "*tiny_cnn*synthetic*new*",
        ]
    )
    output = result.stdout.str() + result.stderr.str()
    assert "oneDNN" not in output and "cpu_feature_guard" not in output
    assert "\x1b[" not in output


def test_accuracy_failure_states_measured_threshold_and_dataset(
    project: pytest.Pytester, read_results: ResultsReader
) -> None:
    _write_test(
        project,
        """
        @pytest_cnnperf.model(tiny_cnn)
        @pytest_cnnperf.dataset(random_labels)
        def test_cannot_learn(cnnperf, cnnperf_model, cnnperf_dataset):
            result = cnnperf.train(cnnperf_model, cnnperf_dataset, epochs=1)
            cnnperf.check_accuracy(result, at_least=0.99)
        """,
    )
    result = project.runpytest_subprocess("--color=no", "--cnnperf-json=out.json")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*Accuracy of tiny_cnn on random_labels (real data, 100 held-out images): 0.*, "
            "below the required 0.9900.",
            "*tiny_cnn*random_labels*failed*",
        ]
    )
    assert "Traceback" not in result.stdout.str()
    (test,) = read_results("out.json")["tests"]
    assert test["verdict"] == "failed"
    assert test["failure"].startswith("Accuracy of tiny_cnn on random_labels (real data,")
    assert test["accuracy_checks"][0]["passed"] is False


def test_nan_loss_fails_with_epoch_and_step(project: pytest.Pytester) -> None:
    _write_test(
        project,
        """
        @pytest_cnnperf.model(tiny_dense)
        @pytest_cnnperf.dataset(poisoned)
        def test_nan(cnnperf, cnnperf_model, cnnperf_dataset):
            cnnperf.train(cnnperf_model, cnnperf_dataset, epochs=1, batch_size=50)
        """,
    )
    result = project.runpytest_subprocess("--color=no")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*The training loss of tiny_dense on poisoned became nan at epoch 1, step ? "
            "(batch size 50, learning rate 0.001). Lower the learning rate or check the "
            "model and its inputs.",
        ]
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--cnnperf-epochs=0"],
            "*argument --cnnperf-epochs: expected a whole number of at least 1, got '0'*",
        ),
        (
            ["--cnnperf-seed=x"],
            "*argument --cnnperf-seed: expected a whole number from 0 to 4294967295, got 'x'*",
        ),
        (
            ["--cnnperf-precision=fp8"],
            "*argument --cnnperf-precision: expected one of float32, tf32, mixed_float16, "
            "mixed_bfloat16, got 'fp8'*",
        ),
        (
            ["--cnnperf-data=maybe"],
            "*argument --cnnperf-data: expected one of auto, real, got 'maybe'*",
        ),
    ],
)
def test_bad_option_values_are_usage_errors(
    pytester: pytest.Pytester, args: list[str], message: str
) -> None:
    pytester.makepyfile(test_nothing="def test_nothing():\n    pass\n")
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_bad_ini_value_names_the_key(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\ncnnperf_epochs = many\n")
    pytester.makepyfile(test_nothing="def test_nothing():\n    pass\n")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*ini option cnnperf_epochs = 'many': expected a whole number of at least 1, got 'many'*"]
    )


def test_unknown_marker_keys_are_listed(project: pytest.Pytester) -> None:
    _write_test(
        project,
        """
        @pytest.mark.cnnperf(epoch=2, warmup=0)
        @pytest_cnnperf.model(tiny_cnn)
        @pytest_cnnperf.dataset("synthetic", **SYNTHETIC)
        def test_typo(cnnperf, cnnperf_model, cnnperf_dataset):
            pass
        """,
    )
    result = project.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*test_perf.py::test_typo[[]tiny_cnn-synthetic[]]: Unknown cnnperf settings: "
            "'epoch' (did you mean 'epochs'?), 'warmup' (did you mean 'warmup_epochs'?). "
            "Known settings: batch_size, devices, early_stopping, epochs, *",
        ]
    )
    output = result.stdout.str()
    # Once, not again as the exception being handled when the test failed.
    assert output.split("short test summary info")[0].count("Unknown cnnperf settings:") == 1
    assert "During handling of the above exception" not in output


def test_gpu_option_without_gpu_stops_at_start(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_nothing="def test_nothing():\n    pass\n")
    result = pytester.runpytest_subprocess("--cnnperf-gpu")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "*--cnnperf-gpu was given, but TensorFlow sees no GPU, and pytest-cnnperf never "
            "falls back to the CPU silently. Looked for: tf.config.list_physical_devices('GPU') "
            "returned []; CUDA_VISIBLE_DEVICES is *",
        ]
    )
    result.stdout.no_fnmatch_line("*1 passed*")


def test_quiet_prints_summary_without_epoch_tables(project: pytest.Pytester) -> None:
    _write_test(project, PASSING)
    result = project.runpytest_subprocess("-q", "--color=no")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*cnnperf summary*", "*tiny_cnn*new*"])
    result.stdout.no_fnmatch_line("*warm-up*")


def test_no_terminal_prints_nothing(project: pytest.Pytester, read_results: ResultsReader) -> None:
    _write_test(project, PASSING)
    result = project.runpytest_subprocess("-p", "no:terminal", "--cnnperf-json=out.json")
    assert result.ret == pytest.ExitCode.OK
    assert result.stdout.str().strip() == ""
    assert read_results("out.json")["tests"][0]["verdict"] == "new"


def test_xdist_merges_results_and_controller_writes_json(
    project: pytest.Pytester, read_results: ResultsReader
) -> None:
    _write_test(
        project,
        """
        @pytest_cnnperf.model(tiny_cnn)
        @pytest_cnnperf.dataset("synthetic", **SYNTHETIC)
        @pytest.mark.parametrize("batch", [16, 32, 64])
        def test_batches(cnnperf, cnnperf_model, cnnperf_dataset, batch):
            cnnperf.train(cnnperf_model, cnnperf_dataset, batch_size=batch, epochs=1)
        """,
    )
    result = project.runpytest_subprocess("-n", "2", "--color=no", "--cnnperf-json=res.json")
    result.assert_outcomes(passed=3)
    stdout = result.stdout.str()
    assert stdout.count("cnnperf summary") == 1
    rows = [line for line in stdout.splitlines() if "test_batches[" in line and " new " in line]
    assert len(rows) == 3
    assert rows == sorted(rows)
    document = read_results("res.json")
    assert [t["batch_size"] for t in document["tests"]] == [16, 32, 64]
    workers = {t["runs"][0]["device"] for t in document["tests"]}
    assert workers == {"/device:CPU:0"}


def test_results_json_schema(project: pytest.Pytester, read_results: ResultsReader) -> None:
    _write_test(project, PASSING)
    result = project.runpytest_subprocess("--cnnperf-json=results.json", "--cnnperf-seed=7")
    result.assert_outcomes(passed=1)
    document = read_results("results.json")
    assert document["schema_version"] == 2
    assert document["interrupted"] is False
    env = document["environment"]
    assert {"python", "tensorflow", "keras", "numpy", "keras_backend"} <= set(env["software"])
    assert env["device"]["kind"] == "cpu" and env["seed"] == 7
    (test,) = document["tests"]
    assert test["node_id"] == "test_perf.py::test_tiny[tiny_cnn-synthetic]"
    assert test["model"] == "tiny_cnn" and test["dataset"] == "synthetic"
    assert test["params"] == (4 * 9 + 4) + (6 * 6 * 4 * 2 + 2)
    assert test["batch_size"] == 32
    assert [e["warmup"] for e in test["epochs"]] == [True, False, False]
    assert set(test["epochs"][0]) >= {
        "index",
        "seconds",
        "images_per_second",
        "warmup",
        "loss",
        "accuracy",
    }
    measured = sorted(e["seconds"] for e in test["epochs"] if not e["warmup"])
    assert test["epoch_seconds_median"] == pytest.approx(sum(measured) / 2)
    assert 0.6 <= test["accuracy"] <= 1.0
    assert test["verdict"] == "new"  # no baseline stored yet
    # One calibrated step time per run; per-epoch timing makes each measured epoch a window.
    (step,) = test["metrics"]["step_time"]["samples"]
    assert step == test["metrics"]["step_time"]["median"] > 0
    (run,) = test["runs"]
    assert [w["seconds"] for w in run["windows"]] == [
        e["seconds"] for e in test["epochs"] if not e["warmup"]
    ]
    assert all(w["calibration_seconds"] > 0 for w in run["windows"])
    assert test["metrics"]["accuracy"]["samples"] == [test["accuracy"]]
    assert test["tolerances"] == {"step_time": 0.1, "accuracy": 0.02, "layer_seconds": 0.25}
    assert test["comparison"]["verdict"] == "new"
    assert test["comparison"]["metrics"] == {}
    assert test["failure"] is None


def test_missing_decorator_is_explained(project: pytest.Pytester) -> None:
    _write_test(
        project,
        """
        def test_bare(cnnperf, cnnperf_model):
            pass
        """,
    )
    result = project.runpytest_subprocess()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*test_perf.py::test_bare uses cnnperf_dataset without naming a data set. "
            'Decorate the test with @pytest_cnnperf.dataset("mnist") or another name.',
        ]
    )


def test_early_stopping_stops_on_validation_loss(project: pytest.Pytester) -> None:
    _write_test(
        project,
        """
        @pytest_cnnperf.model(tiny_dense)
        @pytest_cnnperf.dataset(random_labels)
        def test_stops(cnnperf, cnnperf_model, cnnperf_dataset):
            # Random labels: validation loss stops improving almost at once.
            result = cnnperf.train(cnnperf_model, cnnperf_dataset, epochs=40, early_stopping=True,
                                   learning_rate=0.05)
            print("EPOCHS", len(result.epochs), result.epochs[-1].images)
        """,
    )
    result = project.runpytest_subprocess("-s", "--color=no")
    result.assert_outcomes(passed=1)
    line = next(text for text in result.stdout.lines if "EPOCHS" in text)
    epochs, images = map(int, line.split("EPOCHS")[1].split()[:2])
    # Patience 5 (the default recipe's): never fewer than 6 epochs (the best one and
    # five without a lower validation loss), and with random labels far below the cap of 41.
    assert 6 <= epochs <= 10
    assert images == 270  # 300 training images less the 10% held out for validation


def test_same_seed_repeats_the_same_training(
    project: pytest.Pytester, read_results: ResultsReader
) -> None:
    _write_test(project, PASSING.replace("cnnperf.check_accuracy(result, at_least=0.6)", ""))
    losses = []
    for name in ("a.json", "b.json", "c.json"):
        seed = "3" if name != "c.json" else "4"
        result = project.runpytest_subprocess(
            f"--cnnperf-json={name}", "--cnnperf-deterministic", f"--cnnperf-seed={seed}"
        )
        result.assert_outcomes(passed=1)
        (test,) = read_results(name)["tests"]
        losses.append(([e["loss"] for e in test["epochs"]], test["accuracy"]))
    assert losses[0] == losses[1]
    assert losses[0] != losses[2]
