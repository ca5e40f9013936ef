"""The GPU paths on CPU: precision and XLA recorded, the mirrored strategy on logical
CPU devices, worker pinning and its refusals, the ``--cnnperf-gpu`` errors.

Each training run is a tiny model in a pytester subprocess (TensorFlow's
device set-up is once per process, as for a user). What only a GPU can prove
is ``benchmarks/gpu_check.py``'s (docs/gpu.md).
"""

from __future__ import annotations

import argparse
import textwrap
from typing import TYPE_CHECKING

import pytest

from pytest_cnnperf import devices, options
from pytest_cnnperf.markers import SettingsError
from pytest_cnnperf.plan import resolve_plan

if TYPE_CHECKING:
    from conftest import ResultsReader

TINY = textwrap.dedent(
    """
    import pytest
    import pytest_cnnperf


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


    SYNTHETIC = dict(train_size=256, test_size=64, input_shape=(8, 8, 1), num_classes=2)
    """
)

#: Two logical CPU devices, configured before the plugin's runtime set-up
#: (the first test's fixture) starts TensorFlow's runtime.
TWO_CPUS = textwrap.dedent(
    """
    def pytest_configure(config):
        from pytest_cnnperf.backends.imports import import_tensorflow
        tf = import_tensorflow()
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2
        )
    """
)


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(tinymodels=TINY)
    pytester.makeini(
        "[pytest]\ncnnperf_epochs = 1\ncnnperf_windows = 2\ncnnperf_layers = off\n"
        "cnnperf_compare = off\n"
    )
    return pytester


def _write_test(pytester: pytest.Pytester, body: str) -> None:
    pytester.makepyfile(test_perf="from tinymodels import *\n\n" + textwrap.dedent(body))


# -- precision and XLA --------------------------------------------------------------


def test_precision_and_jit_options_parse_and_refuse_in_argparse_form() -> None:
    assert options.PRECISIONS == ("float32", "tf32", "mixed_float16", "mixed_bfloat16")
    assert options.parse_precision("tf32") == "tf32"
    with pytest.raises(argparse.ArgumentTypeError) as raised:
        options.parse_precision("fp32")
    assert str(raised.value) == (
        "expected one of float32, tf32, mixed_float16, mixed_bfloat16, got 'fp32'"
    )
    with pytest.raises(argparse.ArgumentTypeError) as raised:
        options.parse_on_off("xla")
    assert str(raised.value) == "expected on or off, got 'xla'"


def test_bad_jit_value_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_nothing="def test_nothing():\n    pass\n")
    result = pytester.runpytest_subprocess("--cnnperf-jit=maybe")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*argument --cnnperf-jit: expected on or off, got 'maybe'"])


def test_float32_turns_tf32_off_and_the_results_say_what_was_in_force(
    project: pytest.Pytester, read_results: ResultsReader
) -> None:
    _write_test(
        project,
        """
        @pytest_cnnperf.model(tiny_cnn)
        @pytest_cnnperf.dataset("synthetic", **SYNTHETIC)
        def test_tiny(cnnperf, cnnperf_model, cnnperf_dataset):
            from pytest_cnnperf.backends.imports import import_tensorflow
            result = cnnperf.train(cnnperf_model, cnnperf_dataset, batch_size=32)
            tf = import_tensorflow()
            assert tf.config.experimental.tensor_float_32_execution_enabled() is False
            assert result.precision == "float32" and result.tf32 is False
        """,
    )
    result = project.runpytest_subprocess("--cnnperf-json=out.json", "--cnnperf-jit=on")
    result.assert_outcomes(passed=1)
    (run,) = read_results("out.json")["tests"][0]["runs"]
    assert (run["precision"], run["tf32"], run["jit_compile"]) == ("float32", False, True)
    assert (run["strategy"], run["device_count"]) == (None, 1)
    assert run["arrangement"]["xla"] is True


def test_tf32_turns_it_on(project: pytest.Pytester, read_results: ResultsReader) -> None:
    _write_test(
        project,
        """
        @pytest_cnnperf.model(tiny_cnn)
        @pytest_cnnperf.dataset("synthetic", **SYNTHETIC)
        def test_tiny(cnnperf, cnnperf_model, cnnperf_dataset):
            cnnperf.train(cnnperf_model, cnnperf_dataset, batch_size=32)
        """,
    )
    result = project.runpytest_subprocess("--cnnperf-json=out.json", "--cnnperf-precision=tf32")
    result.assert_outcomes(passed=1)
    document = read_results("out.json")
    (run,) = document["tests"][0]["runs"]
    assert (run["precision"], run["tf32"], run["jit_compile"]) == ("tf32", True, False)
    assert "xla" not in run["arrangement"]  # XLA off is the default: not recorded
    assert document["environment"]["device"]["precision"] == "tf32"


# -- the mirrored strategy on logical CPU devices ------------------------------------------


def test_mirrored_strategy_trains_on_two_logical_devices_and_records_them(
    project: pytest.Pytester, read_results: ResultsReader
) -> None:
    project.makeconftest(TWO_CPUS)
    _write_test(
        project,
        """
        @pytest_cnnperf.model(tiny_cnn, strategy="mirrored", devices=2)
        @pytest_cnnperf.dataset("synthetic", **SYNTHETIC)
        def test_mirrored(cnnperf, cnnperf_model, cnnperf_dataset):
            result = cnnperf.train(cnnperf_model, cnnperf_dataset, batch_size=32, layers=True)
            assert result.strategy == "mirrored" and result.device_count == 2
        """,
    )
    result = project.runpytest_subprocess("--cnnperf-json=out.json")
    result.assert_outcomes(passed=1)
    (run,) = read_results("out.json")["tests"][0]["runs"]
    assert run["strategy"] == "mirrored" and run["device_count"] == 2
    assert [d.rsplit("/", 1)[-1] for d in run["devices"]] == ["device:CPU:0", "device:CPU:1"]
    assert run["arrangement"]["replicas"] == 2
    assert run["layers"]["notes"] == [
        "Per-layer timing is not measured under strategy='mirrored': the profiler's "
        "attribution reads one device's ops. Train the test without a strategy for its "
        "per-layer times."
    ]


def test_more_devices_than_the_process_sees_fail_the_test_once(project: pytest.Pytester) -> None:
    _write_test(
        project,
        """
        @pytest_cnnperf.model(tiny_cnn, strategy="mirrored", devices=3)
        @pytest_cnnperf.dataset("synthetic", **SYNTHETIC)
        def test_mirrored(cnnperf, cnnperf_model, cnnperf_dataset):
            cnnperf.train(cnnperf_model, cnnperf_dataset, batch_size=32)
        """,
    )
    result = project.runpytest_subprocess()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*Expected devices to be at most 1, the CPU devices this process sees "
            "(/device:CPU:0; under pytest -n each worker sees one GPU). Received: devices=3"
        ]
    )
    output = result.stdout.str()
    assert output.split("short test summary info")[0].count("Expected devices to be") == 1


class _Recipe:
    learning_rate = 0.01
    batch_size = 32
    early_stopping_patience = None


class _Config:
    epochs = 1
    repeats = 1
    layers = False


def test_strategy_settings_are_checked_in_keras_form() -> None:
    plan = resolve_plan({"strategy": "mirrored", "devices": 2}, {}, _Config(), _Recipe())  # type: ignore[arg-type]
    assert (plan.strategy, plan.devices) == ("mirrored", 2)
    with pytest.raises(SettingsError) as raised:
        resolve_plan({"strategy": "horovod"}, {}, _Config(), _Recipe())  # type: ignore[arg-type]
    assert str(raised.value) == (
        "Expected strategy to be None or one of 'mirrored'. Received: strategy='horovod'"
    )
    with pytest.raises(SettingsError) as raised:
        resolve_plan({"devices": 2}, {}, _Config(), _Recipe())  # type: ignore[arg-type]
    assert str(raised.value) == (
        "Expected strategy='mirrored' with devices: one device needs no count. "
        "Received: devices=2, strategy=None"
    )
    with pytest.raises(SettingsError) as raised:
        resolve_plan({"strategy": "mirrored", "devices": 0}, {}, _Config(), _Recipe())  # type: ignore[arg-type]
    assert str(raised.value) == (
        "Expected devices to be a whole number of at least 1. Received: devices=0"
    )


# -- one worker per GPU ---------------------------------------------------------------------


def test_worker_i_gets_gpu_i() -> None:
    assert [devices.choose_index(None, f"gw{i}", 4, "gpu") for i in range(4)] == [0, 1, 2, 3]
    assert devices.choose_index(None, None, 4, "gpu") == 0
    assert devices.choose_index(2, "gw0", 4, "gpu") == 2


def test_a_worker_beyond_the_gpus_is_refused() -> None:
    with pytest.raises(devices.DeviceError) as raised:
        devices.choose_index(None, "gw2", 2, "gpu")
    assert str(raised.value) == (
        "xdist worker gw2 would train on GPU:2, but TensorFlow sees 2 GPU devices: each "
        "worker needs its own. Expected at most 2 workers. Received: worker_id='gw2'"
    )


def test_more_workers_than_gpus_is_refused_at_start() -> None:
    assert devices.too_many_workers(2, 2) is None
    assert devices.too_many_workers(None, 2) is None  # no xdist
    assert devices.too_many_workers(3, 2) == (
        "argument -n: expected at most 2 xdist workers with --cnnperf-gpu, one per GPU "
        "TensorFlow sees (workers sharing a GPU time each other), got 3"
    )
    assert devices.too_many_workers(2, 1) == (
        "argument -n: expected at most 1 xdist worker with --cnnperf-gpu, one per GPU "
        "TensorFlow sees (workers sharing a GPU time each other), got 2"
    )


def test_pinning_a_gpu_worker_on_logical_devices(pytester: pytest.Pytester) -> None:
    # TensorFlow lists no GPU here: logical CPU devices stand in, and a fake
    # tf.config reports them as GPUs, to check which one worker gw1 keeps.
    pytester.makepyfile(
        check=textwrap.dedent(
            """
            import types
            from pytest_cnnperf.backends import tensorflow as tf_backend
            from pytest_cnnperf.backends.imports import import_tensorflow
            tf = import_tensorflow()
            cpu = tf.config.list_physical_devices("CPU")[0]
            tf.config.set_logical_device_configuration(
                cpu, [tf.config.LogicalDeviceConfiguration()] * 3)
            physical = ["gpu0", "gpu1", "gpu2"]
            kept, grown = [], []
            config = types.SimpleNamespace(
                list_physical_devices=lambda kind: physical,
                set_visible_devices=lambda chosen, kind: kept.extend(chosen),
                list_logical_devices=lambda kind: tf.config.list_logical_devices("CPU")[:len(kept)],
                experimental=types.SimpleNamespace(
                    set_memory_growth=lambda device, on: grown.append((device, on))),
            )
            fake_tf = types.SimpleNamespace(config=config)
            placement = tf_backend.pin(fake_tf, gpu=True, requested=None, worker_id="gw1")
            print(placement.index, kept, grown, placement.visible_count)
            kept.clear(); grown.clear()
            alone = tf_backend.pin(fake_tf, gpu=True, requested=None, worker_id=None)
            print(alone.index, kept, len(grown), alone.device_name)
            """
        )
    )
    result = pytester.runpython(pytester.path / "check.py")
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        [
            "1 ['gpu1'] [('gpu1', True)] 3",
            "0 ['gpu0', 'gpu1', 'gpu2'] 3 /device:CPU:0",
        ]
    )


def test_gpu_workers_without_a_gpu_stop_at_start(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_nothing="def test_nothing():\n    pass\n")
    result = pytester.runpytest_subprocess("-n", "2", "--cnnperf-gpu")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*--cnnperf-gpu was given, but TensorFlow sees no GPU, and pytest-cnnperf never *"]
    )
