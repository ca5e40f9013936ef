"""Pixel operations shared by the image readers and `prepare`: luminance and bilinear resize."""

from __future__ import annotations

import numpy as np

from pytest_cnnperf.datasets.core import Array

#: ITU-R BT.601 luma weights, the ones `tf.image.rgb_to_grayscale` uses.
LUMA_WEIGHTS = np.array([0.2989, 0.5870, 0.1140], dtype=np.float32)
# Images resized at once: small enough for the intermediate arrays to stay in the
# CPU's caches (128 at once took 5x as long; benchmarks/resize_speed.py).
_RESIZE_CHUNK = 8


def luminance(images: Array) -> Array:
    """Grey NHW1 float32 images from RGB NHWC ones, by ``LUMA_WEIGHTS``."""
    grey: Array = np.tensordot(images, LUMA_WEIGHTS, axes=([-1], [0]))
    return grey[..., np.newaxis].astype(np.float32, copy=False)


def resize_bilinear(images: Array, size: tuple[int, int]) -> Array:
    """Bilinear resize of NHWC ``images`` to ``size``, as ``tf.image.resize`` computes it.

    Half-pixel centres, no antialiasing, edges clamped, and TensorFlow's
    order of float32 operations (along the width first, then the height), so
    that the pixels are TensorFlow's to the bit (checked in
    tests/test_datasets_prepare.py) on every backend, without TensorFlow.
    """
    height, width = size
    rows, row_above, row_frac = _bilinear_axis(images.shape[1], height)
    cols, col_right, col_frac = _bilinear_axis(images.shape[2], width)
    out = np.empty((len(images), height, width, images.shape[-1]), np.float32)
    col_frac = col_frac[np.newaxis, np.newaxis, :, np.newaxis]
    row_frac = row_frac[np.newaxis, :, np.newaxis, np.newaxis]
    for start in range(0, len(images), _RESIZE_CHUNK):
        chunk = images[start : start + _RESIZE_CHUNK].astype(np.float32, copy=False)
        across = np.take(chunk, col_right, axis=2)
        left = np.take(chunk, cols, axis=2)
        across -= left
        across *= col_frac
        across += left  # left + (right - left) * fraction
        bottom = np.take(across, row_above, axis=1)
        top = np.take(across, rows, axis=1)
        bottom -= top
        bottom *= row_frac
        np.add(bottom, top, out=out[start : start + len(chunk)])
    return out


def _bilinear_axis(size: int, new_size: int) -> tuple[Array, Array, Array]:
    """Source indices below and above each output pixel's centre, and its fraction between."""
    scale = np.float32(size) / np.float32(new_size)  # float32 division, as TensorFlow's
    centres = (np.arange(new_size, dtype=np.float32) + np.float32(0.5)) * scale - np.float32(0.5)
    below = np.floor(centres)
    fraction = (centres - below).astype(np.float32)
    low = below.astype(np.int64)
    high = np.clip(low + 1, 0, size - 1)
    return np.clip(low, 0, size - 1), high, fraction
