"""`prepare`: float32 conversion, scaling, channels, padding and resizing."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from pytest_cnnperf.datasets import Dataset, prepare
from pytest_cnnperf.datasets.core import Array


def dataset(x_train: Array, x_test: Array | None = None) -> Dataset:
    x_test = x_train[:2] if x_test is None else x_test
    shape = x_train.shape[1:]
    return Dataset(
        name="toy",
        x_train=x_train,
        y_train=np.arange(len(x_train), dtype=np.int64),
        x_test=x_test,
        y_test=np.arange(len(x_test), dtype=np.int64),
        num_classes=len(x_train),
        input_shape=(shape[0], shape[1], shape[2]),
        source="real",
        origin="memory",
        preprocessing=("loaded",),
        fallback_reason=None,
    )


def grey(count: int = 3, size: int = 28) -> Array:
    return np.random.default_rng(0).integers(0, 256, (count, size, size, 1), dtype=np.uint8)


def test_unit_scale_divides_by_255() -> None:
    ds = dataset(grey())
    prepared = prepare(ds, input_shape=(28, 28, 1), input_scale="unit")
    assert prepared.x_train.dtype == np.float32
    np.testing.assert_allclose(prepared.x_train, ds.x_train / 255.0, rtol=1e-6)
    assert prepared.preprocessing == ("loaded", "converted to float32", "scaled x/255")
    assert prepared.y_train is ds.y_train


def test_raw_scale_keeps_values() -> None:
    ds = dataset(grey())
    prepared = prepare(ds, input_shape=(28, 28, 1), input_scale="raw")
    np.testing.assert_array_equal(prepared.x_test, ds.x_test.astype(np.float32))
    assert prepared.preprocessing[-1] == "kept raw 0..255 values"


def test_grey_28_goes_to_32_by_zero_padding() -> None:
    ds = dataset(grey())
    prepared = prepare(ds, input_shape=(32, 32, 1), input_scale="raw")
    assert prepared.x_train.shape == (3, 32, 32, 1)
    assert prepared.input_shape == (32, 32, 1)
    np.testing.assert_array_equal(prepared.x_train[:, 2:30, 2:30], ds.x_train)
    assert prepared.x_train[:, :2].sum() == 0 and prepared.x_train[:, :, 30:].sum() == 0
    assert "zero-padded 28x28 -> 32x32 (2 pixels each side)" in prepared.preprocessing


def test_grey_to_rgb_repeats_the_channel_after_padding() -> None:
    ds = dataset(grey())
    prepared = prepare(ds, input_shape=(32, 32, 3), input_scale="raw")
    assert prepared.x_train.shape == (3, 32, 32, 3)
    np.testing.assert_array_equal(prepared.x_train[..., 0], prepared.x_train[..., 2])
    assert prepared.preprocessing[2:4] == (
        "zero-padded 28x28 -> 32x32 (2 pixels each side)",
        "grey -> RGB by repeating the channel",
    )


def test_rgb_to_grey_uses_luminance() -> None:
    pixel = np.array([100, 50, 200], np.uint8)
    ds = dataset(np.broadcast_to(pixel, (2, 4, 4, 3)).copy())
    prepared = prepare(ds, input_shape=(4, 4, 1), input_scale="raw")
    assert prepared.x_train.shape == (2, 4, 4, 1)
    expected = 0.2989 * 100 + 0.5870 * 50 + 0.1140 * 200
    np.testing.assert_allclose(prepared.x_train, expected, rtol=1e-5)
    assert prepared.preprocessing[2] == "RGB -> grey by luminance (0.2989 R + 0.5870 G + 0.1140 B)"


def test_other_sizes_are_resized_bilinearly() -> None:
    images = np.zeros((2, 8, 8, 3), np.uint8)
    images[:, :, 4:] = 200
    ds = dataset(images)
    prepared = prepare(ds, input_shape=(4, 6, 3), input_scale="raw")
    assert prepared.x_train.shape == (2, 4, 6, 3)
    assert prepared.x_train[:, :, 0].max() == 0
    assert prepared.x_train[:, :, -1].min() == 200
    assert prepared.preprocessing[2] == "resized 8x8 -> 4x6 (bilinear, as tf.image.resize)"


@pytest.mark.parametrize(
    ("shape", "size"),
    [
        ((5, 28, 28, 1), (227, 227)),  # up, grey (AlexNet on MNIST)
        ((4, 32, 32, 3), (224, 224)),  # up, colour (VGG on CIFAR-10)
        ((3, 96, 96, 3), (64, 40)),  # down, another ratio per axis
        ((3, 7, 5, 1), (11, 3)),  # odd sizes, up one way and down the other
        ((130, 6, 6, 3), (9, 9)),  # more images than one chunk
    ],
)
def test_the_resize_gives_tensorflow_s_pixels_to_the_bit(
    shape: tuple[int, int, int, int], size: tuple[int, int]
) -> None:
    from pytest_cnnperf.backends.imports import import_tensorflow
    from pytest_cnnperf.datasets.pixels import resize_bilinear

    images = np.random.default_rng(0).integers(0, 256, shape).astype(np.float32) / 255.0
    expected = import_tensorflow().image.resize(images, size, method="bilinear").numpy()
    got = resize_bilinear(images, size)
    assert got.dtype == np.float32 and got.shape == expected.shape
    assert np.array_equal(got, expected)


def test_matching_shape_has_no_spatial_or_channel_step() -> None:
    prepared = prepare(dataset(grey()), input_shape=(28, 28, 1), input_scale="unit")
    assert not any(
        "pad" in step or "resize" in step or "RGB" in step for step in prepared.preprocessing
    )


def test_preparing_twice_is_refused() -> None:
    prepared = prepare(dataset(grey()), input_shape=(28, 28, 1), input_scale="unit")
    with pytest.raises(ValueError) as info:
        prepare(prepared, input_shape=(28, 28, 1), input_scale="unit")
    assert str(info.value) == (
        "Expected a Dataset with uint8 images as load() returns it; prepare() scales 0..255 "
        "values and must run once. Received: x_train.dtype=float32, x_test.dtype=float32"
    )


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            {"input_shape": (28, 28), "input_scale": "unit"},
            "Expected input_shape to be a (height, width, channels) tuple of positive ints. "
            "Received: input_shape=(28, 28)",
        ),
        (
            {"input_shape": (28, 28, 1), "input_scale": "imagenet"},
            "Expected input_scale to be 'unit' (x/255) or 'raw' (0..255). "
            "Received: input_scale='imagenet'",
        ),
        (
            {"input_shape": (28, 28, 2), "input_scale": "unit"},
            "Expected images with 1 or 3 channels to convert between. Received: 1 channels in "
            "'toy' for input_shape=(28, 28, 2)",
        ),
    ],
)
def test_bad_prepare_arguments_are_explained(arguments: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as info:
        prepare(dataset(grey()), **arguments)
    assert str(info.value) == message
