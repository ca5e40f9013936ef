"""CIFAR-10 and CIFAR-100 (Krizhevsky 2009): the "python version" pickles.

Each batch is a pickled dict whose `data` is an N x 3072 uint8 array, one row
per image in channel-major order (1024 red, 1024 green, 1024 blue values, each
a 32x32 plane row by row), with `labels` (CIFAR-10) or `fine_labels` and
`coarse_labels` (CIFAR-100). The files were written by Python 2, so they are
read with `encoding="bytes"`. They are read from an unpacked folder or straight
from the distributed `.tar.gz`.

Unpickling can run arbitrary code, so only the few globals a pickled numpy
array needs are allowed; anything else is refused as corrupt.
"""

from __future__ import annotations

import io
import pickle
import tarfile
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

import numpy as np

from pytest_cnnperf.datasets.core import Array, DatasetCorrupt, DatasetUsageError
from pytest_cnnperf.datasets.source import (
    Located,
    Options,
    Part,
    Raw,
    Source,
    Split,
    check_labels,
)

_ALLOWED_GLOBALS = frozenset(
    {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        # Protocol-2 pickles written by Python 3 encode bytes through this.
        ("_codecs", "encode"),
    }
)


class _ArrayUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"refusing to load the global {module}.{name}")
        return super().find_class(module, name)


def unpickle_batch(data: bytes, path: str) -> dict[str, object]:
    """Decode one CIFAR batch; keys come back as `str` whatever the pickle used."""
    try:
        loaded = _ArrayUnpickler(io.BytesIO(data), encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as exc:
        raise DatasetCorrupt(
            f"{path} is not a readable CIFAR batch ({exc}). Expected the pickled dict "
            "of the CIFAR python version; replace it with a fresh copy."
        ) from None
    if not isinstance(loaded, dict):
        raise DatasetCorrupt(
            f"{path} is not a CIFAR batch. Expected a pickled dict. "
            f"Received: type={type(loaded).__name__}"
        )
    return {(k.decode("latin1") if isinstance(k, bytes) else str(k)): v for k, v in loaded.items()}


def batch_arrays(batch: dict[str, object], path: str, label_key: str) -> tuple[Array, Array]:
    """NHWC uint8 images and raw labels of one decoded batch."""
    if "data" not in batch or label_key not in batch:
        raise DatasetCorrupt(
            f"{path} lacks the entries 'data' and {label_key!r}. Received: keys={sorted(batch)}"
        )
    data = np.asarray(batch["data"])
    labels = np.asarray(batch[label_key])
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise DatasetCorrupt(
            f"{path} holds 'data' of shape {data.shape} and dtype {data.dtype}. "
            "Expected uint8 rows of 3072 values (3 channels x 32 x 32)."
        )
    if labels.ndim != 1 or len(labels) != len(data):
        raise DatasetCorrupt(
            f"{path} holds {len(data):,} images but {labels.size:,} {label_key!r}. "
            "Expected one label per image."
        )
    images = np.ascontiguousarray(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
    return images, labels


class _CifarSource(Source):
    """32x32 colour images; subclasses name the archive layout and label key."""

    folder: ClassVar[str]
    archive: ClassVar[str]
    train_files: ClassVar[tuple[str, ...]]
    test_files: ClassVar[tuple[str, ...]] = ("test",)

    def input_shape(self, options: Options) -> tuple[int, int, int]:
        return (32, 32, 3)

    def nominal_sizes(self, options: Options) -> tuple[int, int]:
        return (50_000, 10_000)

    def label_key(self, options: Options) -> str:
        return "labels"

    def _wanted(self, split: Split) -> tuple[str, ...]:
        return self.test_files if split == "test" else self.train_files + self.test_files

    def probe(self, directory: Path, split: Split, options: Options) -> Located | str:
        if not directory.is_dir():
            return "does not exist"
        wanted = self._wanted(split)
        notes: list[str] = []
        for folder in (directory, directory / self.folder):
            present = [name for name in wanted if (folder / name).is_file()]
            if len(present) == len(wanted):
                return Located(folder, tuple(folder / name for name in wanted), "batches")
            if present:
                absent = [name for name in wanted if name not in present]
                notes.append(f"{folder} lacks {', '.join(absent)}")
        if (directory / self.archive).is_file():
            return Located(directory, (directory / self.archive,), "archive")
        return "; ".join(notes) if notes else f"holds no {self.title} files"

    def read(self, located: Located, split: Split, options: Options, seed: int) -> Raw:
        label_key = self.label_key(options)
        num_classes = self.num_classes(options)
        batches: list[tuple[Array, Array]] = []
        if located.layout == "archive":
            archive = located.files[0]
            members = self._archive_members(archive, split)
            for name, data in members:
                where = f"{archive}:{name}"
                batch = batch_arrays(unpickle_batch(data, where), where, label_key)
                batches.append((batch[0], check_labels(where, batch[1], num_classes)))
            origin = f"{archive} ({', '.join(name for name, _ in members)})"
        else:
            for path in located.files:
                data = path.read_bytes()
                batch = batch_arrays(unpickle_batch(data, str(path)), str(path), label_key)
                batches.append((batch[0], check_labels(path, batch[1], num_classes)))
            origin = ", ".join(str(path) for path in located.files)
        test_count = len(self.test_files)
        train_batches, test_batches = batches[:-test_count], batches[-test_count:]
        train = None
        if train_batches:
            train = Part.of(
                np.concatenate([b[0] for b in train_batches]),
                np.concatenate([b[1] for b in train_batches]),
            )
        test = Part.of(
            np.concatenate([b[0] for b in test_batches]),
            np.concatenate([b[1] for b in test_batches]),
        )
        steps: tuple[str, ...] = ("CHW rows -> NHWC",)
        if label_key != "labels":
            steps += (f"labels from {label_key!r}",)
        return Raw(train, test, num_classes, origin, steps)

    def _archive_members(self, archive: Path, split: Split) -> list[tuple[str, bytes]]:
        names = [f"{self.folder}/{name}" for name in self._wanted(split)]
        members: list[tuple[str, bytes]] = []
        try:
            with tarfile.open(archive, "r:*") as tar:
                for name in names:
                    try:
                        handle = tar.extractfile(name)
                    except KeyError:
                        handle = None
                    if handle is None:
                        raise DatasetCorrupt(
                            f"{archive} lacks the member {name}. Expected the "
                            f"{self.title} python-version archive; replace it with a fresh copy."
                        )
                    with handle:
                        members.append((name, handle.read()))
        except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
            raise DatasetCorrupt(
                f"{archive} is not a readable tar archive ({exc}). Expected the "
                f"{self.title} python-version .tar.gz; replace it with a fresh copy."
            ) from None
        return members

    def files_help(self, split: Split, options: Options) -> str:
        return (
            f"{', '.join(self._wanted(split))} (unpacked, directly or in {self.folder}/), "
            f"or the archive {self.archive}"
        )

    def download(self, options: Options) -> Raw:
        from pytest_cnnperf.backends.imports import import_keras

        keras = import_keras()
        loader = getattr(keras.datasets, str(self.keras_module))
        kwargs = (
            {} if self.label_key(options) == "labels" else {"label_mode": options["label_mode"]}
        )
        (x_train, y_train), (x_test, y_test) = loader.load_data(**kwargs)
        num_classes = self.num_classes(options)
        origin = f"keras.datasets.{self.keras_module}.load_data() (downloaded)"
        return Raw(
            train=Part.of(_channels_last(x_train), check_labels(origin, y_train, num_classes)),
            test=Part.of(_channels_last(x_test), check_labels(origin, y_test, num_classes)),
            num_classes=num_classes,
            origin=origin,
            steps=(),
        )


def _channels_last(images: object) -> Array:
    # keras.datasets returns NCHW when keras.json says channels_first.
    array = np.asarray(images)
    if array.shape[1] == 3 and array.shape[-1] != 3:
        array = np.ascontiguousarray(array.transpose(0, 2, 3, 1))
    return array


class Cifar10Source(_CifarSource):
    """Ten classes of tiny colour images."""

    name = "cifar10"
    title = "CIFAR-10"
    folder = "cifar-10-batches-py"
    archive = "cifar-10-python.tar.gz"
    # Keras 3 unpacks the download into this folder of its cache.
    keras_subdirs = ("cifar-10-batches-py-target",)
    keras_module = "cifar10"
    train_files = tuple(f"data_batch_{i}" for i in range(1, 6))
    test_files = ("test_batch",)

    def num_classes(self, options: Options) -> int:
        return 10


class Cifar100Source(_CifarSource):
    """A hundred fine classes grouped into twenty coarse superclasses."""

    name = "cifar100"
    title = "CIFAR-100"
    folder = "cifar-100-python"
    archive = "cifar-100-python.tar.gz"
    keras_subdirs = ("cifar-100-python-target",)
    keras_module = "cifar100"
    train_files = ("train",)
    defaults: ClassVar[Mapping[str, object]] = {"label_mode": "fine"}

    def check_options(self, options: dict[str, object]) -> dict[str, object]:
        if options["label_mode"] not in ("fine", "coarse"):
            raise DatasetUsageError(
                "Expected label_mode to be 'fine' (100 classes) or 'coarse' (20 classes). "
                f"Received: label_mode={options['label_mode']!r}"
            )
        return options

    def label_key(self, options: Options) -> str:
        return f"{options['label_mode']}_labels"

    def num_classes(self, options: Options) -> int:
        return 100 if options["label_mode"] == "fine" else 20
