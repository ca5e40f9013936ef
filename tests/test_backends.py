"""Unit tests of the backend choice, the key it is part of, and the host-array pipeline."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from pytest_cnnperf import backends
from pytest_cnnperf.baselines.model import HardwareKey


def test_a_name_that_is_no_backend_is_refused_with_the_choices() -> None:
    with pytest.raises(backends.BackendError) as caught:
        backends.check_name("cntk", "KERAS_BACKEND")
    assert str(caught.value) == (
        "Expected KERAS_BACKEND to be one of tensorflow, jax, torch. Received: KERAS_BACKEND='cntk'"
    )
    assert backends.check_name(" JAX ", "KERAS_BACKEND") == "jax"


def test_keras_backend_unset_means_tensorflow(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    assert backends.requested() == "tensorflow"
    monkeypatch.setenv("KERAS_BACKEND", "torch")
    assert backends.requested() == "torch"


def test_a_backend_cannot_replace_the_one_keras_was_imported_with(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pytest_cnnperf.backends.imports import import_keras

    import_keras()  # this process trains on TensorFlow
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")
    with pytest.raises(backends.BackendError) as caught:
        backends.select("jax")
    assert str(caught.value).startswith(
        "--cnnperf-backend=jax must be decided before Keras is imported, but Keras was already "
        "imported in this process with the tensorflow backend"
    )
    assert os.environ["KERAS_BACKEND"] == "tensorflow"
    assert backends.select("tensorflow") == "tensorflow"


def test_a_framework_that_is_not_installed_is_said_before_any_test(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real(name, *a)
    )
    assert backends.not_installed("torch") == (
        f"The torch backend was selected (KERAS_BACKEND=torch), but {sys.executable} finds no "
        "package 'torch'. Install it with pip install 'pytest-cnnperf[torch]', or select "
        "another backend with --cnnperf-backend."
    )
    assert backends.not_installed("tensorflow") is None


def test_the_backend_is_part_of_the_key_and_tensorflow_keeps_its_file_names() -> None:
    tf_key = HardwareKey("cpu", "Intel Xeon", 2, "float32")
    jax_key = HardwareKey("cpu", "Intel Xeon", 2, "float32", "jax")
    assert tf_key.backend == "tensorflow"
    assert tf_key != jax_key
    assert tf_key.slug() == "cpu-intel-xeon-2c-float32"
    assert jax_key.slug() == "cpu-intel-xeon-2c-float32-jax"
    assert jax_key.describe() == "cpu 'Intel Xeon' x2, float32, jax"


def _batches(pipeline: object, count: int) -> list[tuple[np.ndarray, np.ndarray]]:
    return [tuple(np.asarray(part) for part in pipeline[i]) for i in range(count)]  # type: ignore[index,misc]


def test_the_host_pipeline_covers_every_image_once_a_pass_in_a_seeded_order() -> None:
    from pytest_cnnperf.backends.host_inputs import host_batches, repeated

    x = np.arange(10, dtype=np.float32).reshape(10, 1, 1, 1)
    y = np.arange(10)
    train = host_batches(x, y, batch_size=4, seed=3)
    assert len(train) == 3 and train.per_pass == 3
    first = _batches(train, 3)
    assert [len(labels) for _, labels in first] == [4, 4, 2]  # the last batch is smaller
    seen = np.concatenate([labels for _, labels in first])
    assert sorted(seen) == list(range(10)) and list(seen) != list(range(10))
    for images, labels in first:
        assert np.array_equal(images.reshape(-1), labels.astype(np.float32))
    # The same seed repeats the order; an endless pipeline gives each pass its own.
    again = np.concatenate(
        [labels for _, labels in _batches(host_batches(x, y, batch_size=4, seed=3), 3)]
    )
    assert np.array_equal(seen, again)
    endless = repeated(train)
    assert endless.num_batches is None
    passes = np.concatenate([labels for _, labels in _batches(endless, 6)])
    assert np.array_equal(passes[:10], seen)
    assert sorted(passes[10:]) == list(range(10)) and not np.array_equal(passes[10:], seen)


def test_the_host_pipeline_keeps_the_order_without_a_seed_and_takes_steps() -> None:
    from pytest_cnnperf.backends.host_inputs import host_batches

    x = np.zeros((10, 1, 1, 1), np.float32)
    y = np.arange(10)
    ordered = host_batches(x, y, batch_size=4, seed=None)
    assert [list(labels) for _, labels in _batches(ordered, 3)] == [
        [0, 1, 2, 3],
        [4, 5, 6, 7],
        [8, 9],
    ]
    assert len(host_batches(x, y, batch_size=4, seed=0, steps=2)) == 2


def test_the_host_pipeline_refuses_what_cannot_be_batched() -> None:
    from pytest_cnnperf.backends.host_inputs import host_batches

    x = np.zeros((3, 1, 1, 1), np.float32)
    with pytest.raises(ValueError, match=r"Received: batch_size=0"):
        host_batches(x, np.arange(3), batch_size=0, seed=0)
    with pytest.raises(ValueError, match=r"Received: len\(x\)=3, len\(y\)=2"):
        host_batches(x, np.arange(2), batch_size=2, seed=0)


@pytest.mark.parametrize("name", ["jax", "torch"])
def test_each_backend_pins_the_cpu_and_synchronizes_in_a_fresh_process(name: str) -> None:
    pytest.importorskip(name)
    code = textwrap.dedent(
        f"""
        import os
        os.environ["KERAS_BACKEND"] = "{name}"
        from pytest_cnnperf import backends
        backend = backends.current()
        backend.numerics.configure(precision="float32", deterministic=False)
        placement = backend.devices.pin(gpu=False, requested=None, worker_id=None)
        from pytest_cnnperf.backends.imports import import_keras
        keras = import_keras()
        with backend.devices.scope(placement.device_name):
            x = keras.ops.ones((4, 4)) * 2
        backend.devices.synchronize()
        print(keras.backend.backend(), placement.kind, placement.device_name,
              float(keras.ops.sum(x)), backend.numerics.tf32(),
              backend.numerics.jit(False), backend.profiler.layers_unavailable() is not None)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 0, out.stderr
    fields = out.stdout.split()
    assert fields[:2] == [name, "cpu"]
    # Both measure per-layer times: layers_unavailable() is None.
    assert fields[3:] == ["32.0", "False", "True" if name == "jax" else "False", "False"]
