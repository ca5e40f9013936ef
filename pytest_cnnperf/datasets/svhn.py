"""SVHN (Netzer et al. 2011), format 2: cropped 32x32 digits in MATLAB files.

`train_32x32.mat`, `test_32x32.mat` and `extra_32x32.mat` each hold `X`, a
32 x 32 x 3 x N uint8 array (image index last), and `y`, an N x 1 array of
labels 1..10 where 10 stands for the digit 0. scipy reads them; it is the
optional extra `svhn` and imported only here, when an SVHN file is read.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import ClassVar

import numpy as np

from pytest_cnnperf.datasets.core import Array, DatasetCorrupt, DatasetError, DatasetUsageError
from pytest_cnnperf.datasets.source import (
    Located,
    Options,
    Part,
    Raw,
    Source,
    Split,
    check_labels,
)

_TRAIN, _TEST, _EXTRA = "train_32x32.mat", "test_32x32.mat", "extra_32x32.mat"


def import_scipy_io() -> ModuleType:
    """`scipy.io`, or a DatasetError that says how to install it."""
    try:
        import scipy.io
    except ImportError as exc:
        raise DatasetError(
            "Reading SVHN's .mat files needs scipy, which is not installed. "
            "Install it with: pip install pytest-cnnperf[svhn]"
        ) from exc
    module: ModuleType = scipy.io
    return module


def read_mat(path: Path) -> tuple[Array, Array]:
    """NHWC uint8 images and 0..9 labels from one SVHN .mat file."""
    scipy_io = import_scipy_io()
    try:
        contents = scipy_io.loadmat(str(path))
    # loadmat reports damage as MatReadError, OSError, ValueError, IndexError and
    # more, depending on where a file breaks; all of them mean "unreadable".
    except Exception as exc:
        raise DatasetCorrupt(
            f"{path} is not a readable MATLAB file ({type(exc).__name__}: {exc}). "
            "Expected an SVHN format-2 file; replace it with a fresh copy."
        ) from None
    if "X" not in contents or "y" not in contents:
        keys = sorted(key for key in contents if not key.startswith("__"))
        raise DatasetCorrupt(
            f"{path} lacks the variables X and y. Expected an SVHN format-2 file. "
            f"Received: variables={keys}"
        )
    images, labels = np.asarray(contents["X"]), np.asarray(contents["y"]).reshape(-1)
    if images.ndim != 4 or images.shape[2] != 3 or images.dtype != np.uint8:
        raise DatasetCorrupt(
            f"{path} holds X of shape {images.shape} and dtype {images.dtype}. "
            "Expected uint8 images stored height x width x 3 x N."
        )
    if images.shape[3] != len(labels):
        raise DatasetCorrupt(
            f"{path} holds {images.shape[3]:,} images but {len(labels):,} labels. "
            "Expected one label per image."
        )
    if labels.size and not np.array_equal(labels, np.round(labels)):
        raise DatasetCorrupt(f"{path} holds non-integer labels. Expected digits 1..10.")
    labels = labels.astype(np.int64)
    # Label 10 is the digit 0; 0 itself appears in some re-exports and means the same.
    labels[labels == 10] = 0
    images = np.ascontiguousarray(images.transpose(3, 0, 1, 2))
    return images, check_labels(path, labels, 10)


class SvhnSource(Source):
    """Street View House Numbers, cropped digits."""

    name = "svhn"
    title = "SVHN"
    defaults: ClassVar[Mapping[str, object]] = {"include_extra": False}

    def check_options(self, options: dict[str, object]) -> dict[str, object]:
        if not isinstance(options["include_extra"], bool):
            raise DatasetUsageError(
                "Expected include_extra to be True or False. "
                f"Received: include_extra={options['include_extra']!r}"
            )
        return options

    def input_shape(self, options: Options) -> tuple[int, int, int]:
        return (32, 32, 3)

    def num_classes(self, options: Options) -> int:
        return 10

    def nominal_sizes(self, options: Options) -> tuple[int, int]:
        return (73_257 + (531_131 if options["include_extra"] else 0), 26_032)

    def _wanted(self, split: Split, options: Options) -> tuple[str, ...]:
        if split == "test":
            return (_TEST,)
        return (_TRAIN, _EXTRA, _TEST) if options["include_extra"] else (_TRAIN, _TEST)

    def probe(self, directory: Path, split: Split, options: Options) -> Located | str:
        if not directory.is_dir():
            return "does not exist"
        wanted = self._wanted(split, options)
        absent = [name for name in wanted if not (directory / name).is_file()]
        if not absent:
            return Located(directory, tuple(directory / name for name in wanted), "mat")
        if len(absent) == len(wanted):
            return f"holds no {self.title} files"
        return f"lacks {', '.join(absent)}"

    def read(self, located: Located, split: Split, options: Options, seed: int) -> Raw:
        arrays = [read_mat(path) for path in located.files]
        test = Part.of(*arrays[-1])
        train = None
        steps: tuple[str, ...] = ("X transposed HxWxCxN -> NHWC", "label 10 -> 0")
        if len(arrays) > 1:
            train_arrays = arrays[:-1]
            train = Part.of(
                np.concatenate([a[0] for a in train_arrays]),
                np.concatenate([a[1] for a in train_arrays]),
            )
            if len(train_arrays) > 1:
                steps += ("extra_32x32 appended to train",)
        origin = ", ".join(str(path) for path in located.files)
        return Raw(train, test, 10, origin, steps)

    def files_help(self, split: Split, options: Options) -> str:
        return ", ".join(self._wanted(split, options)) + " (SVHN format 2, cropped digits)"
