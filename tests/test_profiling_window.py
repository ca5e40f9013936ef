"""The profiled window on a small real model: a real TensorFlow profile, attributed."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from pytest_cnnperf import layers, profiling
from pytest_cnnperf.backends import tensorflow_layers
from pytest_cnnperf.backends.imports import import_keras, import_tensorflow
from pytest_cnnperf.layerprofile import LayerProfile

BATCH = 32
STEPS = 4


def small_cnn() -> Any:
    keras = import_keras()
    inputs = keras.Input((16, 16, 3), name="input")
    x = keras.layers.Conv2D(8, 3, padding="same", name="conv")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.Activation("relu", name="relu")(x)
    x = keras.layers.MaxPooling2D(2, name="pool")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(16, activation="relu", name="hidden")(x)
    outputs = keras.layers.Dense(4, activation="softmax", name="head")(x)
    return keras.Model(inputs, outputs, name="small_cnn")


@pytest.fixture(scope="module")
def window() -> tuple[Any, LayerProfile]:
    keras = import_keras()
    tf = import_tensorflow()
    keras.utils.set_random_seed(0)
    model = small_cnn()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    tensorflow_layers.instrument(model)
    rng = np.random.default_rng(0)
    x = rng.random((8 * BATCH, 16, 16, 3), dtype=np.float32)
    y = rng.integers(0, 4, 8 * BATCH)
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(BATCH).prefetch(2)
    model.fit(data, epochs=1, verbose=0, shuffle=False)  # tf.data shuffles itself
    profile = tensorflow_layers.profile_window(
        model,
        data,
        batch_size=BATCH,
        full_batches=True,
        device="/CPU:0",
        size=layers.WindowSize(warmup=1, reference=2, profiled=STEPS),
        unprofiled_step_seconds=None,
        sync=tf.test.experimental.sync_devices,
    )
    layers.remove_instrumentation(model)
    return model, profile


def test_every_layer_of_the_model_appears(window: tuple[Any, LayerProfile]) -> None:
    model, profile = window
    assert profile.notes == () and profile.steps == STEPS
    assert [timing.name for timing in profile.layers] == [
        layer.name for layer in model.layers if layer.name != "input"
    ]
    kinds = {timing.name: timing.kind for timing in profile.layers}
    assert kinds["conv"] == "Conv2D" and kinds["bn"] == "BatchNormalization"


def test_forward_backward_and_optimizer_are_all_attributed(
    window: tuple[Any, LayerProfile],
) -> None:
    _, profile = window
    by_name = {timing.name: timing for timing in profile.layers}
    for name in ("conv", "bn", "hidden", "head"):
        timing = by_name[name]
        assert min(timing.forward_seconds) > 0, name
        assert min(timing.backward_seconds) > 0, name
        # Their variables are updated under the scope instrument() opened.
        assert min(timing.optimizer_seconds) > 0, name
    assert max(by_name["pool"].optimizer_seconds) == 0  # no variables
    loss = profile.category(profiling.LOSS_AND_METRICS)
    assert loss is not None and min(loss.seconds) > 0


def test_nothing_is_counted_twice(window: tuple[Any, LayerProfile]) -> None:
    _, profile = window
    for index, step in enumerate(profile.step_seconds):
        parts = sum(t.total_seconds[index] for t in profile.layers)
        idle = ("launch", "between ops")
        parts += sum(c.seconds[index] for c in profile.categories if c.name not in idle)
        assert parts <= step * (1 + 1e-9)
        gaps = sum(c.seconds[index] for c in profile.categories if c.name in idle)
        assert parts + gaps == pytest.approx(step)


def test_coverage_is_computed_from_the_profile(window: tuple[Any, LayerProfile]) -> None:
    _, profile = window
    covered = [
        sum(t.total_seconds[i] for t in profile.layers)
        + sum(c.seconds[i] for c in profile.categories if c.covered)
        for i in range(profile.steps)
    ]
    assert profile.coverage_samples == pytest.approx(
        [c / s for c, s in zip(covered, profile.step_seconds, strict=True)]
    )
    assert profile.coverage is not None and 0 < profile.coverage <= 1
    assert profile.reference_steps == 2 and profile.unprofiled_step_seconds is not None


def test_flops_follow_the_layer_formulas(window: tuple[Any, LayerProfile]) -> None:
    _, profile = window
    by_name = {timing.name: timing for timing in profile.layers}
    assert by_name["conv"].forward_flops == 2 * 16 * 16 * 8 * 3 * 3 * 3 * BATCH
    assert by_name["hidden"].forward_flops == 2 * (8 * 8 * 8) * 16 * BATCH
    assert by_name["pool"].forward_flops is None
    assert profile.peak_flops_per_second and profile.peak_flops_per_second > 0
    assert profile.utilization is not None and profile.utilization > 0


def test_the_instrumentation_is_removed_afterwards(window: tuple[Any, LayerProfile]) -> None:
    model, _ = window
    assert "compute_metrics" not in vars(model)
    assert "update_step" not in vars(model.optimizer)


def test_a_running_profiler_leaves_the_window_skipped_with_the_reason(
    window: tuple[Any, LayerProfile], tmp_path: Any
) -> None:
    model, _ = window
    tf = import_tensorflow()
    data = tf.data.Dataset.from_tensor_slices(
        (np.zeros((BATCH, 16, 16, 3), np.float32), np.zeros(BATCH, np.int64))
    ).batch(BATCH)
    tf.profiler.experimental.start(str(tmp_path))
    try:
        profile = tensorflow_layers.profile_window(
            model,
            data,
            batch_size=BATCH,
            full_batches=True,
            device="/CPU:0",
            size=layers.WindowSize(0, 0, 1),
            unprofiled_step_seconds=None,
            sync=lambda: None,
        )
    finally:
        tf.profiler.experimental.stop(save=False)
    assert not profile.profiled
    (note,) = profile.notes
    assert note.startswith("Per-layer timing failed: ")
