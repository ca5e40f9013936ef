"""MNIST and Fashion-MNIST: IDX files (gzip or not) and the Keras `mnist.npz`.

IDX (LeCun et al., "The MNIST database") is a big-endian format: a 4-byte
magic number `0x0000TTNN` (TT the element type, NN the number of dimensions),
NN unsigned 32-bit dimension sizes, then the elements in row-major order.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import ClassVar

import numpy as np

from pytest_cnnperf.datasets.core import Array, DatasetCorrupt
from pytest_cnnperf.datasets.source import (
    Located,
    Options,
    Part,
    Raw,
    Source,
    Split,
    check_labels,
    first_existing,
    read_maybe_gzip,
)

#: Element types by the third byte of the magic number.
IDX_TYPES: dict[int, str] = {
    0x08: "u1",
    0x09: "i1",
    0x0B: ">i2",
    0x0C: ">i4",
    0x0D: ">f4",
    0x0E: ">f8",
}
IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801


def parse_idx(data: bytes, path: Path | str, expected_magic: int | None = None) -> Array:
    """Decode the IDX bytes `data` read from `path` into an array.

    Args:
        data: The whole file, already decompressed.
        path: The file it came from, named in error messages.
        expected_magic: If given, the magic number the file must have.

    Returns:
        A native-endian array with the dimensions the header declares.

    Raises:
        DatasetCorrupt: For a wrong magic number, an unknown element type, or a
            length that does not match the header (truncated or trailing bytes).
    """
    if len(data) < 4:
        raise DatasetCorrupt(
            f"{path} is truncated: it has {len(data)} bytes, fewer than the 4-byte IDX "
            "magic number. Replace it with a fresh copy."
        )
    magic = int.from_bytes(data[:4], "big")
    if expected_magic is not None and magic != expected_magic:
        raise DatasetCorrupt(
            f"{path} is not the IDX file expected there. Expected magic number "
            f"0x{expected_magic:08X}. Received: magic=0x{magic:08X}"
        )
    type_code, ndim = data[2], data[3]
    if data[0] != 0 or data[1] != 0 or type_code not in IDX_TYPES or ndim == 0:
        raise DatasetCorrupt(
            f"{path} is not an IDX file. Expected a magic number 0x0000TTNN with a known "
            f"element type TT and NN >= 1 dimensions. Received: magic=0x{magic:08X}"
        )
    header_bytes = 4 + 4 * ndim
    if len(data) < header_bytes:
        raise DatasetCorrupt(
            f"{path} is truncated: it has {len(data)} bytes, fewer than its "
            f"{header_bytes}-byte IDX header. Replace it with a fresh copy."
        )
    dims = tuple(int(d) for d in np.frombuffer(data, ">u4", count=ndim, offset=4))
    dtype = np.dtype(IDX_TYPES[type_code])
    expected_bytes = header_bytes + int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    shape_text = "x".join(str(d) for d in dims)
    if len(data) != expected_bytes:
        problem = "is truncated" if len(data) < expected_bytes else "has trailing bytes"
        raise DatasetCorrupt(
            f"{path} {problem}: its header declares {shape_text} elements, "
            f"{expected_bytes:,} bytes in all, but it has {len(data):,} bytes. "
            "Replace it with a fresh copy."
        )
    array = np.frombuffer(data, dtype, offset=header_bytes).reshape(dims)
    return array.astype(dtype.newbyteorder("="), copy=False)


def read_idx(path: Path | str, expected_magic: int | None = None) -> Array:
    """Read an IDX file, gzip-compressed or not (told apart by content, not name)."""
    path = Path(path)
    return parse_idx(read_maybe_gzip(path), path, expected_magic)


def _read_pair(images_path: Path, labels_path: Path, num_classes: int) -> tuple[Array, Array]:
    images = read_idx(images_path, IMAGES_MAGIC)
    labels = read_idx(labels_path, LABELS_MAGIC)
    if len(images) != len(labels):
        raise DatasetCorrupt(
            f"{images_path} holds {len(images):,} images but {labels_path} holds "
            f"{len(labels):,} labels. Expected equal counts; replace the files with a "
            "matching pair."
        )
    if images.shape[1:] != (28, 28):
        raise DatasetCorrupt(
            f"{images_path} holds images of {images.shape[1]}x{images.shape[2]} pixels. "
            "Expected 28x28; replace it with the distributed file."
        )
    return images[..., np.newaxis], check_labels(labels_path, labels, num_classes)


_STEMS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")


class _IdxSource(Source):
    """28x28 grey images in IDX files; subclasses name the data set."""

    npz_name: ClassVar[str | None] = None

    def input_shape(self, options: Options) -> tuple[int, int, int]:
        return (28, 28, 1)

    def num_classes(self, options: Options) -> int:
        return 10

    def nominal_sizes(self, options: Options) -> tuple[int, int]:
        return (60_000, 10_000)

    def _parts(self, split: Split) -> tuple[str, ...]:
        return ("test",) if split == "test" else ("train", "test")

    def probe(self, directory: Path, split: Split, options: Options) -> Located | str:
        if not directory.is_dir():
            return "does not exist"
        found: list[Path] = []
        missing: list[str] = []
        for part in self._parts(split):
            for stem in _STEMS[part]:
                path = first_existing(directory, (f"{stem}.gz", stem))
                if path is None:
                    missing.append(f"{stem}[.gz]")
                else:
                    found.append(path)
        if not missing:
            return Located(directory, tuple(found), "idx")
        if self.npz_name is not None and (directory / self.npz_name).is_file():
            return Located(directory, (directory / self.npz_name,), "npz")
        if not found:
            return f"holds no {self.title} files"
        return f"lacks {', '.join(missing)}"

    def read(self, located: Located, split: Split, options: Options, seed: int) -> Raw:
        if located.layout == "npz":
            return self._read_npz(located.files[0], split)
        arrays: dict[str, Part] = {}
        files = iter(located.files)
        for part in self._parts(split):
            images, labels = _read_pair(next(files), next(files), 10)
            arrays[part] = Part.of(images, labels)
        return Raw(
            train=arrays.get("train"),
            test=arrays["test"],
            num_classes=10,
            origin=", ".join(str(path) for path in located.files),
            steps=(),
        )

    def _read_npz(self, path: Path, split: Split) -> Raw:
        wanted = _NPZ_KEYS[2:] if split == "test" else _NPZ_KEYS
        arrays: dict[str, Array] = {}
        try:
            with np.load(path, allow_pickle=False) as npz:
                absent = [key for key in wanted if key not in npz.files]
                if absent:
                    raise DatasetCorrupt(
                        f"{path} lacks the arrays {', '.join(absent)}. Expected the Keras "
                        f"mnist.npz with keys {', '.join(_NPZ_KEYS)}. "
                        f"Received: keys={sorted(npz.files)}"
                    )
                for key in wanted:
                    arrays[key] = npz[key]
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            raise DatasetCorrupt(
                f"{path} is not a readable .npz archive ({exc}). Expected the Keras "
                "mnist.npz; replace it with a fresh copy."
            ) from None
        parts: dict[str, Part] = {}
        for prefix in ("train", "test"):
            if f"x_{prefix}" not in arrays:
                continue
            images, labels = arrays[f"x_{prefix}"], arrays[f"y_{prefix}"]
            if images.ndim == 4 and images.shape[-1] == 1:
                images = images[..., 0]
            if images.shape[1:] != (28, 28) or images.dtype != np.uint8:
                raise DatasetCorrupt(
                    f"{path} holds x_{prefix} of shape {images.shape} and dtype "
                    f"{images.dtype}. Expected uint8 images of shape (N, 28, 28)."
                )
            if len(labels) != len(images):
                raise DatasetCorrupt(
                    f"{path} holds {len(images):,} x_{prefix} images but "
                    f"{len(labels):,} y_{prefix} labels. Expected equal counts."
                )
            parts[prefix] = Part.of(images[..., np.newaxis], check_labels(path, labels, 10))
        return Raw(
            train=parts.get("train"),
            test=parts["test"],
            num_classes=10,
            origin=str(path),
            steps=(),
        )

    def files_help(self, split: Split, options: Options) -> str:
        stems = [stem for part in self._parts(split) for stem in _STEMS[part]]
        text = ", ".join(stems) + " (each gzip-compressed with .gz or not)"
        if self.npz_name is not None:
            text += f", or the Keras {self.npz_name}"
        return text

    def download(self, options: Options) -> Raw:
        from pytest_cnnperf.backends.imports import import_keras

        keras = import_keras()
        loader = getattr(keras.datasets, str(self.keras_module))
        (x_train, y_train), (x_test, y_test) = loader.load_data()
        origin = f"keras.datasets.{self.keras_module}.load_data() (downloaded)"
        return Raw(
            train=Part.of(np.asarray(x_train)[..., np.newaxis], check_labels(origin, y_train, 10)),
            test=Part.of(np.asarray(x_test)[..., np.newaxis], check_labels(origin, y_test, 10)),
            num_classes=10,
            origin=origin,
            steps=(),
        )


class MnistSource(_IdxSource):
    """Handwritten digits (LeCun, Cortes and Burges)."""

    name = "mnist"
    title = "MNIST"
    keras_module = "mnist"
    npz_name = "mnist.npz"


class FashionMnistSource(_IdxSource):
    """Zalando article images (Xiao, Rasul and Vollgraf 2017); Keras caches its IDX .gz files."""

    name = "fashion_mnist"
    title = "Fashion-MNIST"
    keras_subdirs = ("fashion-mnist",)
    keras_module = "fashion_mnist"
