"""`training_pipeline` / `evaluation_pipeline`: batches, order, seeds, augmentation."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from pytest_cnnperf.datasets import evaluation_pipeline, training_pipeline
from pytest_cnnperf.datasets.core import Array


def numbered(count: int) -> tuple[Array, Array]:
    """Images whose every pixel holds the image's index; labels equal the index."""
    x = np.broadcast_to(np.arange(count, dtype=np.float32)[:, None, None, None], (count, 4, 4, 1))
    x = np.ascontiguousarray(x)
    x.flags.writeable = False  # as load() returns them
    return x, np.arange(count, dtype=np.int64)


def epoch(dataset: Any) -> list[tuple[Array, Array]]:
    return [(images.numpy(), labels.numpy()) for images, labels in dataset]


def order(batches: list[tuple[Array, Array]]) -> list[int]:
    return [int(label) for _, labels in batches for label in labels]


def test_training_batches_cover_every_image_once_per_epoch() -> None:
    x, y = numbered(10)
    batches = epoch(training_pipeline(x, y, batch_size=4, seed=0))
    assert [images.shape for images, _ in batches] == [(4, 4, 4, 1), (4, 4, 4, 1), (2, 4, 4, 1)]
    assert sorted(order(batches)) == list(range(10))
    for images, labels in batches:
        np.testing.assert_array_equal(images[:, 0, 0, 0], labels)


def test_shuffle_is_seeded_and_changes_every_epoch() -> None:
    x, y = numbered(64)
    pipeline = training_pipeline(x, y, batch_size=16, seed=3)
    first, second = order(epoch(pipeline)), order(epoch(pipeline))
    rebuilt = training_pipeline(x, y, batch_size=16, seed=3)
    assert order(epoch(rebuilt)) == first
    assert second != first
    assert sorted(second) == list(range(64))
    other_seed = training_pipeline(x, y, batch_size=16, seed=4)
    assert order(epoch(other_seed)) != first


def test_no_shuffle_keeps_the_order() -> None:
    x, y = numbered(7)
    batches = epoch(training_pipeline(x, y, batch_size=3, seed=0, shuffle=False))
    assert order(batches) == list(range(7))


def test_augmentation_layers_run_per_batch_in_training_mode() -> None:
    from pytest_cnnperf.backends.imports import import_keras

    keras = import_keras()
    x, y = numbered(6)
    layers = [keras.layers.Rescaling(2.0), keras.layers.RandomFlip("horizontal", seed=1)]
    batches = epoch(training_pipeline(x, y, batch_size=6, seed=0, augmentation_layers=layers))
    images, labels = batches[0]
    assert images.shape == (6, 4, 4, 1)
    np.testing.assert_array_equal(images[:, 0, 0, 0], 2.0 * labels)


def test_evaluation_batches_keep_the_order() -> None:
    x, y = numbered(9)
    batches = epoch(evaluation_pipeline(x, y, batch_size=4))
    assert [len(labels) for _, labels in batches] == [4, 4, 1]
    assert order(batches) == list(range(9))


def test_pipelines_feed_model_fit() -> None:
    from pytest_cnnperf.backends.imports import import_keras

    keras = import_keras()
    x, y = numbered(8)
    model = keras.Sequential(
        [keras.Input((4, 4, 1)), keras.layers.Flatten(), keras.layers.Dense(8)]
    )
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(
        training_pipeline(x, y, batch_size=4, seed=0), epochs=2, shuffle=False, verbose=0
    )
    assert len(history.history["loss"]) == 2
    assert len(model.predict(evaluation_pipeline(x, y, batch_size=4), verbose=0)) == 8


@pytest.mark.parametrize(
    ("x_count", "y_count", "batch_size", "message"),
    [
        (4, 4, 0, "Expected batch_size to be a positive int. Received: batch_size=0"),
        (4, 3, 2, "Expected as many labels as images. Received: len(x)=4, len(y)=3"),
        (0, 0, 2, "Expected at least one image. Received: len(x)=0"),
    ],
)
def test_bad_pipeline_arguments_are_explained(
    x_count: int, y_count: int, batch_size: int, message: str
) -> None:
    x, _ = numbered(x_count)
    y = np.zeros(y_count, np.int64)
    with pytest.raises(ValueError) as info:
        training_pipeline(x, y, batch_size=batch_size, seed=0)
    assert str(info.value) == message
    with pytest.raises(ValueError) as info:
        evaluation_pipeline(x, y, batch_size=batch_size)
    assert str(info.value) == message
