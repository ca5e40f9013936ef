"""`prepare`: turn a loaded data set into the float32 input a model expects."""

from __future__ import annotations

import dataclasses
from typing import Literal

import numpy as np

from pytest_cnnperf.datasets.core import Dataset
from pytest_cnnperf.datasets.pixels import luminance, resize_bilinear


def prepare(
    ds: Dataset,
    *,
    input_shape: tuple[int, int, int],
    input_scale: Literal["unit", "raw"],
) -> Dataset:
    """Return `ds` with float32 images shaped and scaled for a model.

    Steps, each recorded in `preprocessing` and applied only when needed:

    - channels: 1 -> 3 by repeating the grey plane, 3 -> 1 by luminance;
    - size: 28x28 grey images (MNIST-like) going to 32x32 are zero-padded by 2
      pixels each side, as LeNet-5 pads MNIST; other size changes are a
      bilinear `tf.image.resize`;
    - scale: `"unit"` divides by 255, `"raw"` keeps 0..255 as floats.

    Args:
        ds: A data set as `load` returns it (uint8 images).
        input_shape: The model's `(height, width, channels)`.
        input_scale: `"unit"` for inputs in [0, 1], `"raw"` for [0, 255].

    Returns:
        A new `Dataset`; labels are shared with `ds`.

    Raises:
        ValueError: For images that are not uint8 (already prepared), a bad
            `input_shape` or `input_scale`, or a channel count not convertible.
    """
    if ds.x_train.dtype != np.uint8 or ds.x_test.dtype != np.uint8:
        raise ValueError(
            "Expected a Dataset with uint8 images as load() returns it; prepare() "
            "scales 0..255 values and must run once. "
            f"Received: x_train.dtype={ds.x_train.dtype}, x_test.dtype={ds.x_test.dtype}"
        )
    if not (
        isinstance(input_shape, tuple)
        and len(input_shape) == 3
        and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in input_shape)
    ):
        raise ValueError(
            "Expected input_shape to be a (height, width, channels) tuple of positive ints. "
            f"Received: input_shape={input_shape!r}"
        )
    if input_scale not in ("unit", "raw"):
        raise ValueError(
            "Expected input_scale to be 'unit' (x/255) or 'raw' (0..255). "
            f"Received: input_scale={input_scale!r}"
        )
    source_channels, target_channels = ds.input_shape[2], input_shape[2]
    if source_channels != target_channels and {source_channels, target_channels} != {1, 3}:
        raise ValueError(
            f"Expected images with 1 or 3 channels to convert between. Received: "
            f"{source_channels} channels in {ds.name!r} for input_shape={input_shape!r}"
        )

    steps = list(ds.preprocessing)
    x_train = ds.x_train.astype(np.float32)
    x_test = ds.x_test.astype(np.float32)
    steps.append("converted to float32")
    # Change the channel count where it makes the arrays smaller first.
    if target_channels < source_channels:
        x_train, x_test = luminance(x_train), luminance(x_test)
        steps.append("RGB -> grey by luminance (0.2989 R + 0.5870 G + 0.1140 B)")
    if ds.input_shape[:2] != input_shape[:2]:
        (height, width), (new_height, new_width) = ds.input_shape[:2], input_shape[:2]
        if (height, width, source_channels) == (28, 28, 1) and (new_height, new_width) == (32, 32):
            pad = ((0, 0), (2, 2), (2, 2), (0, 0))
            x_train, x_test = np.pad(x_train, pad), np.pad(x_test, pad)
            steps.append("zero-padded 28x28 -> 32x32 (2 pixels each side)")
        else:
            x_train = resize_bilinear(x_train, (new_height, new_width))
            x_test = resize_bilinear(x_test, (new_height, new_width))
            steps.append(
                f"resized {height}x{width} -> {new_height}x{new_width} "
                "(bilinear, as tf.image.resize)"
            )
    if target_channels > source_channels:
        x_train, x_test = np.repeat(x_train, 3, axis=-1), np.repeat(x_test, 3, axis=-1)
        steps.append("grey -> RGB by repeating the channel")
    if input_scale == "unit":
        x_train /= 255.0
        x_test /= 255.0
        steps.append("scaled x/255")
    else:
        steps.append("kept raw 0..255 values")
    return dataclasses.replace(
        ds,
        x_train=x_train,
        x_test=x_test,
        input_shape=input_shape,
        preprocessing=tuple(steps),
    )
