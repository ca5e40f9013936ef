"""Synthetic data: deterministic per seed, shaped as asked, and learnable."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from pytest_cnnperf.datasets import clear_cache, load
from pytest_cnnperf.datasets.core import Array
from pytest_cnnperf.datasets.synthetic import max_shift, synthetic_arrays


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    clear_cache()
    yield
    clear_cache()


def nearest_mean_accuracy(x_train: Array, y_train: Array, x_test: Array, y_test: Array) -> float:
    """Accuracy of classifying each test image by the closest class-mean train image."""
    train = x_train.reshape(len(x_train), -1).astype(np.float32)
    test = x_test.reshape(len(x_test), -1).astype(np.float32)
    classes = np.unique(y_train)
    means = np.stack([train[y_train == c].mean(axis=0) for c in classes])
    distances = (test**2).sum(1)[:, None] - 2 * test @ means.T + (means**2).sum(1)[None, :]
    return float((classes[distances.argmin(axis=1)] == y_test).mean())


def test_same_seed_gives_the_same_data() -> None:
    first = synthetic_arrays((28, 28, 1), 10, 50, 20, seed=4)
    second = synthetic_arrays((28, 28, 1), 10, 50, 20, seed=4)
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)


def test_different_seeds_give_different_data() -> None:
    first = synthetic_arrays((28, 28, 1), 10, 50, 20, seed=4)
    second = synthetic_arrays((28, 28, 1), 10, 50, 20, seed=5)
    assert not np.array_equal(first[0], second[0])
    assert not np.array_equal(first[1], second[1])


@pytest.mark.parametrize(
    ("shape", "classes"), [((28, 28, 1), 10), ((32, 32, 3), 100), ((9, 7, 2), 3)]
)
def test_shapes_dtypes_and_balanced_labels(shape: tuple[int, int, int], classes: int) -> None:
    x_train, y_train, x_test, _ = synthetic_arrays(shape, classes, 300, 200, seed=0)
    assert x_train.shape == (300, *shape)
    assert x_test.shape == (200, *shape)
    assert x_train.dtype == np.uint8
    assert y_train.dtype == np.int64
    counts = np.bincount(y_train, minlength=classes)
    assert counts.max() - counts.min() <= 1
    assert x_train.std() > 0 and x_train.min() < 64 and x_train.max() > 192


def test_classes_are_learnable_and_labels_carry_the_signal() -> None:
    x_train, y_train, x_test, y_test = synthetic_arrays((28, 28, 1), 10, 1000, 500, seed=0)
    chance = 1 / 10
    assert nearest_mean_accuracy(x_train, y_train, x_test, y_test) > 6 * chance
    # The same classifier on shuffled training labels has nothing to learn.
    shuffled = np.random.default_rng(1).permutation(y_train)
    assert nearest_mean_accuracy(x_train, shuffled, x_test, y_test) < 2.5 * chance


def test_colour_images_are_learnable_too() -> None:
    x_train, y_train, x_test, y_test = synthetic_arrays((32, 32, 3), 10, 500, 300, seed=2)
    assert nearest_mean_accuracy(x_train, y_train, x_test, y_test) > 0.6


def test_shift_scales_with_the_image() -> None:
    assert [max_shift((s, s, 1)) for s in (4, 28, 32, 224)] == [1, 2, 2, 16]


def test_load_synthetic_with_options() -> None:
    ds = load(
        "synthetic", input_shape=[16, 12, 3], num_classes=4, train_size=40, test_size=8, seed=9
    )
    assert ds.source == "synthetic"
    assert ds.fallback_reason is None
    assert ds.origin == "synthetic(seed=9)"
    assert ds.input_shape == (16, 12, 3)
    assert ds.num_classes == 4
    assert (len(ds.x_train), len(ds.x_test)) == (40, 8)
    assert ds.preprocessing == ()


def test_load_synthetic_defaults() -> None:
    ds = load("synthetic")
    assert ds.x_train.shape == (8_000, 28, 28, 1)
    assert ds.x_test.shape == (2_000, 28, 28, 1)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"input_shape": (28, 28)},
            "Expected input_shape to be (height, width, channels) of positive ints, such as "
            "(28, 28, 1). Received: input_shape=(28, 28)",
        ),
        ({"num_classes": 1}, "Expected num_classes to be an int >= 2. Received: num_classes=1"),
    ],
)
def test_synthetic_option_errors(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as info:
        load("synthetic", **options)
    assert str(info.value) == message
