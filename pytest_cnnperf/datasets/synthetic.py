"""Deterministic synthetic images with a class structure a CNN can learn.

Each class has a prototype: a smooth random pattern (a coarse random grid,
bilinearly upsampled) slightly larger than the image. An image is a window of
its class prototype at a random offset (a shift of up to 1/14 of the image
side), with a random contrast and brightness, plus Gaussian pixel noise,
clipped to uint8. The shifts reward translation-tolerant features: on 28x28x1
with 10 classes a nearest-class-mean classifier scores about 89% (1,000 train
images) and LeNet-5 about 99% after one epoch of 8,000 images, while a model
that does not learn stays at chance (1 / num_classes). The same seed always
gives the same images and labels.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar, cast

import numpy as np

from pytest_cnnperf.datasets.core import Array, DatasetUsageError
from pytest_cnnperf.datasets.source import Located, Options, Part, Raw, Source, Split

#: Pixel noise (standard deviation, in 0..255 units).
NOISE_STD = 56.0
#: Prototype amplitude around mid-grey: patterns span 128 +- this.
PATTERN_AMPLITUDE = 60.0
#: Largest shift, as a fraction of the shorter image side (at least 1 pixel).
SHIFT_FRACTION = 1 / 14
# Images are generated about this many pixel values at a time, which bounds the
# float32 temporaries (16 MB each) whatever the image size.
_CHUNK_VALUES = 1 << 22


def _upsample(grid: Array, height: int, width: int) -> Array:
    """Bilinear upsampling of (K, gh, gw, C) grids to (K, height, width, C)."""

    def axis_weights(cells: int, size: int) -> tuple[Array, Array, Array]:
        position = np.linspace(0.0, cells - 1.0, size)
        low = np.floor(position).astype(np.int64)
        high = np.minimum(low + 1, cells - 1)
        return low, high, (position - low).astype(np.float32)

    r0, r1, rw = axis_weights(grid.shape[1], height)
    c0, c1, cw = axis_weights(grid.shape[2], width)
    rows = grid[:, r0] * (1 - rw)[None, :, None, None] + grid[:, r1] * rw[None, :, None, None]
    upsampled: Array = (
        rows[:, :, c0] * (1 - cw)[None, None, :, None] + rows[:, :, c1] * cw[None, None, :, None]
    )
    return upsampled


def max_shift(input_shape: tuple[int, int, int]) -> int:
    """Largest offset, in pixels, of an image's window into its prototype."""
    return max(1, int(min(input_shape[:2]) * SHIFT_FRACTION))


def prototypes(input_shape: tuple[int, int, int], num_classes: int, seed: int) -> Array:
    """One float32 pattern per class, values in 128 +- PATTERN_AMPLITUDE.

    Patterns are `2 * max_shift` pixels taller and wider than the images.
    """
    height, width, channels = input_shape
    margin = 2 * max_shift(input_shape)
    canvas_h, canvas_w = height + margin, width + margin
    cells = (num_classes, max(2, canvas_h // 4), max(2, canvas_w // 4), channels)
    grid = np.random.default_rng([seed, 0]).uniform(-1.0, 1.0, cells).astype(np.float32)
    return 128.0 + PATTERN_AMPLITUDE * _upsample(grid, canvas_h, canvas_w)


def generate(
    patterns: Array, input_shape: tuple[int, int, int], size: int, rng: np.random.Generator
) -> tuple[Array, Array]:
    """`size` uint8 images drawn around `patterns`, with balanced int64 labels."""
    height, width, _ = input_shape
    shift = max_shift(input_shape)
    labels = rng.permutation(np.arange(size, dtype=np.int64) % len(patterns))
    images = np.empty((size, *input_shape), np.uint8)
    step = max(1, _CHUNK_VALUES // (height * width * input_shape[2]))
    for start in range(0, size, step):
        chunk = labels[start : start + step]
        count = len(chunk)
        offsets = rng.integers(0, 2 * shift + 1, (count, 2))
        windows = np.empty((count, *input_shape), np.float32)
        # Slicing one window at a time copies contiguous rows; fancy indexing of
        # every pixel is many times slower on large images.
        for i, (label, (top, left)) in enumerate(zip(chunk, offsets, strict=True)):
            windows[i] = patterns[label, top : top + height, left : left + width]
        contrast = rng.uniform(0.7, 1.3, (count, 1, 1, 1)).astype(np.float32)
        brightness = rng.normal(0.0, 16.0, (count, 1, 1, 1)).astype(np.float32)
        noise = rng.standard_normal((count, *input_shape), dtype=np.float32)
        values = (windows - 128.0) * contrast + 128.0 + brightness + NOISE_STD * noise
        images[start : start + count] = np.clip(np.rint(values), 0, 255).astype(np.uint8)
    return images, labels


def synthetic_arrays(
    input_shape: tuple[int, int, int],
    num_classes: int,
    train_size: int,
    test_size: int,
    seed: int,
) -> tuple[Array, Array, Array, Array]:
    """Train and test images and labels of the synthetic data set for `seed`."""
    patterns = prototypes(input_shape, num_classes, seed)
    x_train, y_train = generate(patterns, input_shape, train_size, np.random.default_rng([seed, 1]))
    x_test, y_test = generate(patterns, input_shape, test_size, np.random.default_rng([seed, 2]))
    return x_train, y_train, x_test, y_test


def _shape(value: object) -> tuple[int, int, int]:
    if (
        isinstance(value, (tuple, list))
        and len(value) == 3
        and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)
    ):
        return (int(value[0]), int(value[1]), int(value[2]))
    raise DatasetUsageError(
        "Expected input_shape to be (height, width, channels) of positive ints, such as "
        f"(28, 28, 1). Received: input_shape={value!r}"
    )


class SyntheticSource(Source):
    """Generated data of any shape; never read from files."""

    name = "synthetic"
    title = "synthetic"
    defaults: ClassVar[Mapping[str, object]] = {"input_shape": (28, 28, 1), "num_classes": 10}

    def check_options(self, options: dict[str, object]) -> dict[str, object]:
        options["input_shape"] = _shape(options["input_shape"])
        count = options["num_classes"]
        if not isinstance(count, int) or isinstance(count, bool) or count < 2:
            raise DatasetUsageError(
                f"Expected num_classes to be an int >= 2. Received: num_classes={count!r}"
            )
        return options

    def input_shape(self, options: Options) -> tuple[int, int, int]:
        return _shape(options["input_shape"])

    def num_classes(self, options: Options) -> int:
        return cast(int, options["num_classes"])

    def nominal_sizes(self, options: Options) -> tuple[int, int]:
        return (8_000, 2_000)

    def probe(self, directory: Path, split: Split, options: Options) -> Located | str:
        return "synthetic data are generated, never read"

    def read(self, located: Located, split: Split, options: Options, seed: int) -> Raw:
        raise NotImplementedError("Synthetic data are generated by synthetic_arrays().")

    def files_help(self, split: Split, options: Options) -> str:
        return "no files"


def synthetic_raw(
    input_shape: tuple[int, int, int], num_classes: int, sizes: tuple[int, int], seed: int
) -> Raw:
    """Synthetic data shaped as a `Raw` read, for the loader's common path."""
    x_train, y_train, x_test, y_test = synthetic_arrays(input_shape, num_classes, *sizes, seed)
    return Raw(
        train=Part.of(x_train, y_train),
        test=Part.of(x_test, y_test),
        num_classes=num_classes,
        origin=f"synthetic(seed={seed})",
        steps=(),
    )
