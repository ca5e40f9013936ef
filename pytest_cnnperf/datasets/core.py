"""The `Dataset` record and the errors the loaders raise."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

#: Image or label array. Images are NHWC; labels are int64 class ids.
Array = npt.NDArray[Any]


class DatasetError(Exception):
    """A data set could not be loaded or prepared as asked.

    The message is complete: where it quotes a lower-level error, that error
    is not chained (``raise ... from None``), so that a traceback does not
    print the same words twice.
    """


class DatasetUsageError(DatasetError, ValueError):
    """A data set was asked for wrongly: an unknown name, option or argument value.

    Also a ``ValueError``, as every bad argument is.
    """


class DatasetNotFound(DatasetError):
    """No files for a data set were found in any of the places searched."""


class DatasetCorrupt(DatasetError):
    """A data set file exists but cannot be read as its format demands."""


@dataclass(frozen=True, eq=False, repr=False)
class Dataset:
    """Train and test arrays of one image-classification data set.

    Arrays returned by `load` are read-only: they are shared through the
    in-process cache, so an in-place change would leak into other tests.
    `prepare` returns new float32 arrays.

    Attributes:
        name: The name given to `load` (`"mnist"`, `"cifar10"`, ...), also when
            synthetic data stands in for it.
        x_train: NHWC images; uint8 as distributed until `prepare` converts them.
        y_train: int64 class ids, shape `(N,)`.
        x_test: NHWC images of the test subset.
        y_test: int64 class ids of the test subset.
        num_classes: Number of classes, including classes absent from a subset.
        input_shape: `(height, width, channels)` of one image.
        source: `"real"` for distributed files, `"synthetic"` for generated data.
        origin: The files read, or `"synthetic(seed=...)"`.
        preprocessing: Human-readable steps applied since the files were read.
        fallback_reason: Why synthetic data stands in for real data, else None.
    """

    name: str
    x_train: Array
    y_train: Array
    x_test: Array
    y_test: Array
    num_classes: int
    input_shape: tuple[int, int, int]
    source: Literal["real", "synthetic"]
    origin: str
    preprocessing: tuple[str, ...]
    fallback_reason: str | None

    def __repr__(self) -> str:
        # The default repr would print four arrays; shapes are what a reader needs.
        return (
            f"Dataset(name={self.name!r}, source={self.source!r}, "
            f"x_train={_describe(self.x_train)}, x_test={_describe(self.x_test)}, "
            f"num_classes={self.num_classes}, origin={self.origin!r})"
        )


def _describe(array: Array) -> str:
    return f"{np.dtype(array.dtype).name}{list(array.shape)}"


def freeze(array: Array) -> Array:
    """Mark `array` read-only and return it."""
    array.flags.writeable = False
    return array


def check_batchable(x: Array, y: Array, batch_size: int) -> None:
    """Raise ``ValueError`` unless ``x`` and ``y`` can be cut into batches of ``batch_size``."""
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(
            f"Expected batch_size to be a positive int. Received: batch_size={batch_size!r}"
        )
    if len(x) != len(y):
        raise ValueError(
            f"Expected as many labels as images. Received: len(x)={len(x)}, len(y)={len(y)}"
        )
    if len(x) == 0:
        raise ValueError("Expected at least one image. Received: len(x)=0")
