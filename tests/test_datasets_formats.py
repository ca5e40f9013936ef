"""Readers of each distributed format, on small files written here in that format."""

from __future__ import annotations

import gzip
import os
import pickle
import subprocess
import sys
import tarfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pytest_cnnperf.datasets import (
    DatasetCorrupt,
    DatasetError,
    clear_cache,
    load,
)
from pytest_cnnperf.datasets.core import Array
from pytest_cnnperf.datasets.idx import read_idx
from pytest_cnnperf.datasets.source import read_maybe_gzip
from pytest_cnnperf.datasets.svhn import SvhnSource
from pytest_cnnperf.datasets.synthetic import SyntheticSource

MNIST_DIR = Path(__file__).parents[1] / ".." / "shared" / "datasets" / "mnist"


@pytest.fixture(autouse=True)
def _isolated(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """Keep the developer's Keras cache and CNNPERF_DATA_DIR out of every search."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path_factory.mktemp("keras_home")))
    monkeypatch.delenv("CNNPERF_DATA_DIR", raising=False)
    clear_cache()
    yield
    clear_cache()


# ---------------------------------------------------------------- IDX writers


def idx_bytes(array: Array, type_code: int = 0x08) -> bytes:
    header = bytes([0, 0, type_code, array.ndim])
    header += b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write_idx(path: Path, array: Array, type_code: int = 0x08) -> Path:
    data = idx_bytes(array, type_code)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


def digits(count: int, seed: int) -> tuple[Array, Array]:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (count, 28, 28), dtype=np.uint8)
    labels = (np.arange(count) % 10).astype(np.uint8)
    return images, labels


def write_mnist(folder: Path, gz: bool = True, train: int = 20, test: int = 10) -> dict[str, Array]:
    suffix = ".gz" if gz else ""
    arrays: dict[str, Array] = {}
    for prefix, count, seed in (("train", train, 1), ("t10k", test, 2)):
        images, labels = digits(count, seed)
        write_idx(folder / f"{prefix}-images-idx3-ubyte{suffix}", images)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte{suffix}", labels)
        arrays[prefix] = images
        arrays[prefix + "_labels"] = labels
    return arrays


# ---------------------------------------------------------------- IDX and npz


@pytest.mark.parametrize("gz", [True, False], ids=["gzip", "plain"])
def test_mnist_idx_files_load_as_nhwc_uint8_and_int64(tmp_path: Path, gz: bool) -> None:
    written = write_mnist(tmp_path / "mnist", gz=gz)
    ds = load("mnist", data_dir=tmp_path, mode="real")
    assert ds.source == "real"
    assert ds.fallback_reason is None
    assert ds.x_train.shape == (20, 28, 28, 1)
    assert ds.x_train.dtype == np.uint8
    assert ds.y_train.dtype == np.int64
    assert ds.input_shape == (28, 28, 1)
    assert ds.num_classes == 10
    np.testing.assert_array_equal(ds.x_train[..., 0], written["train"])
    np.testing.assert_array_equal(ds.y_test, written["t10k_labels"])
    assert str(tmp_path / "mnist" / "t10k-labels-idx1-ubyte") in ds.origin


def test_keras_mnist_npz_loads_like_idx(tmp_path: Path) -> None:
    images, labels = digits(20, 1)
    test_images, test_labels = digits(10, 2)
    np.savez(
        tmp_path / "mnist.npz",
        x_train=images,
        y_train=labels,
        x_test=test_images,
        y_test=test_labels,
    )
    ds = load("mnist", data_dir=tmp_path, mode="real")
    np.testing.assert_array_equal(ds.x_train[..., 0], images)
    np.testing.assert_array_equal(ds.y_test, test_labels)
    assert ds.origin == str(tmp_path / "mnist.npz")


def test_fashion_mnist_reads_the_keras_cache_layout(tmp_path: Path) -> None:
    cache = Path(os.environ["KERAS_HOME"]) / "datasets" / "fashion-mnist"
    written = write_mnist(cache)
    ds = load("fashion_mnist", mode="real")
    np.testing.assert_array_equal(ds.x_test[..., 0], written["t10k"])
    assert str(cache) in ds.origin


def test_real_mnist_test_set_has_the_documented_class_counts() -> None:
    labels = read_idx(MNIST_DIR / "t10k-labels-idx1-ubyte.gz", 0x00000801)
    images = read_idx(MNIST_DIR / "t10k-images-idx3-ubyte.gz", 0x00000803)
    assert images.shape == (10_000, 28, 28)
    assert np.bincount(labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    ds = load("mnist", data_dir=MNIST_DIR.parent, split="test", mode="real")
    assert (len(ds.x_train), len(ds.x_test)) == (8_000, 2_000)
    combined = np.bincount(np.concatenate([ds.y_train, ds.y_test]), minlength=10)
    np.testing.assert_array_equal(combined, np.bincount(labels))


def test_idx_reader_handles_wider_element_types(tmp_path: Path) -> None:
    values = np.arange(-6, 6, dtype=np.int32).reshape(3, 4)
    path = write_idx(tmp_path / "ints.idx", values, type_code=0x0C)
    np.testing.assert_array_equal(read_idx(path), values)


@pytest.mark.parametrize("gz", [True, False], ids=["gzip", "plain"])
def test_truncated_idx_is_an_error_naming_the_file(tmp_path: Path, gz: bool) -> None:
    write_mnist(tmp_path, gz=gz)
    suffix = ".gz" if gz else ""
    path = tmp_path / f"train-images-idx3-ubyte{suffix}"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DatasetCorrupt) as info:
        load("mnist", data_dir=tmp_path)
    if gz:
        assert str(info.value).startswith(f"{path} is not a complete gzip file (")
        assert str(info.value).endswith(
            "Expected the file as distributed; replace it with a fresh copy."
        )
    else:
        assert str(info.value) == (
            f"{path} is truncated: its header declares 20x28x28 elements, 15,696 bytes in "
            "all, but it has 15,596 bytes. Replace it with a fresh copy."
        )


def test_idx_with_trailing_bytes_is_an_error(tmp_path: Path) -> None:
    path = write_idx(tmp_path / "labels", np.zeros(5, np.uint8))
    path.write_bytes(path.read_bytes() + b"\0\0")
    with pytest.raises(DatasetCorrupt) as info:
        read_idx(path)
    assert str(info.value) == (
        f"{path} has trailing bytes: its header declares 5 elements, 13 bytes in all, "
        "but it has 15 bytes. Replace it with a fresh copy."
    )


def test_swapped_idx_files_fail_on_the_magic_number(tmp_path: Path) -> None:
    write_mnist(tmp_path, gz=False)
    images = tmp_path / "t10k-images-idx3-ubyte"
    labels = tmp_path / "t10k-labels-idx1-ubyte"
    images_data, labels_data = images.read_bytes(), labels.read_bytes()
    images.write_bytes(labels_data)
    labels.write_bytes(images_data)
    with pytest.raises(DatasetCorrupt) as info:
        load("mnist", data_dir=tmp_path)
    assert str(info.value) == (
        f"{images} is not the IDX file expected there. Expected magic number 0x00000803. "
        "Received: magic=0x00000801"
    )


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"\x00\x00", "is truncated: it has 2 bytes, fewer than the 4-byte IDX magic number."),
        (
            b"\x00\x00\x08\x03\x00\x00",
            "is truncated: it has 6 bytes, fewer than its 16-byte IDX header.",
        ),
    ],
)
def test_idx_shorter_than_its_header_is_truncated(
    tmp_path: Path, content: bytes, problem: str
) -> None:
    path = tmp_path / "short"
    path.write_bytes(content)
    with pytest.raises(DatasetCorrupt) as info:
        read_idx(path)
    assert str(info.value) == f"{path} {problem} Replace it with a fresh copy."


def test_file_that_is_not_idx_is_named(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"<html>404 Not Found</html>")
    with pytest.raises(DatasetCorrupt) as info:
        read_idx(path)
    assert str(info.value) == (
        f"{path} is not an IDX file. Expected a magic number 0x0000TTNN with a known element "
        "type TT and NN >= 1 dimensions. Received: magic=0x3C68746D"
    )


def test_idx_image_and_label_counts_must_match(tmp_path: Path) -> None:
    write_mnist(tmp_path)
    labels_path = write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.zeros(7, np.uint8))
    with pytest.raises(DatasetCorrupt) as info:
        load("mnist", data_dir=tmp_path)
    assert str(info.value) == (
        f"{tmp_path / 't10k-images-idx3-ubyte.gz'} holds 10 images but {labels_path} holds "
        "7 labels. Expected equal counts; replace the files with a matching pair."
    )


def test_idx_labels_outside_the_classes_are_an_error(tmp_path: Path) -> None:
    write_mnist(tmp_path)
    labels_path = write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.full(10, 12, np.uint8))
    with pytest.raises(DatasetCorrupt) as info:
        load("mnist", data_dir=tmp_path)
    assert str(info.value) == (
        f"{labels_path} holds label 12. Expected class ids 0..9; replace the file with a "
        "fresh copy."
    )


def test_idx_images_of_another_size_are_an_error(tmp_path: Path) -> None:
    write_mnist(tmp_path)
    path = write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", np.zeros((10, 32, 32), np.uint8))
    with pytest.raises(DatasetCorrupt) as info:
        load("mnist", data_dir=tmp_path)
    assert str(info.value) == (
        f"{path} holds images of 32x32 pixels. Expected 28x28; replace it with the "
        "distributed file."
    )


def test_npz_without_the_keras_keys_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "mnist.npz"
    np.savez(path, x_test=np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(DatasetCorrupt) as info:
        load("mnist", data_dir=tmp_path, split="test")
    assert str(info.value) == (
        f"{path} lacks the arrays y_test. Expected the Keras mnist.npz with keys x_train, "
        "y_train, x_test, y_test. Received: keys=['x_test']"
    )


def test_npz_that_is_not_an_archive_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "mnist.npz"
    path.write_bytes(b"PK\x03\x04 broken")
    with pytest.raises(DatasetCorrupt) as info:
        load("mnist", data_dir=tmp_path)
    assert str(info.value).startswith(f"{path} is not a readable .npz archive (")
    assert str(info.value).endswith("Expected the Keras mnist.npz; replace it with a fresh copy.")


def test_npz_with_fewer_labels_than_images_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "mnist.npz"
    np.savez(path, x_test=np.zeros((3, 28, 28), np.uint8), y_test=np.zeros(2, np.uint8))
    with pytest.raises(DatasetCorrupt) as info:
        load("mnist", data_dir=tmp_path, split="test")
    assert str(info.value) == (
        f"{path} holds 3 x_test images but 2 y_test labels. Expected equal counts."
    )


def test_unreadable_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(DatasetCorrupt) as info:
        read_maybe_gzip(tmp_path)
    assert str(info.value) == f"Could not read {tmp_path}: [Errno 21] Is a directory: '{tmp_path}'."


def test_npz_with_wrong_image_shape_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "mnist.npz"
    np.savez(path, x_test=np.zeros((2, 27, 28), np.uint8), y_test=np.zeros(2, np.uint8))
    with pytest.raises(DatasetCorrupt) as info:
        load("mnist", data_dir=tmp_path, split="test")
    assert str(info.value) == (
        f"{path} holds x_test of shape (2, 27, 28) and dtype uint8. Expected uint8 images "
        "of shape (N, 28, 28)."
    )


# ---------------------------------------------------------------- CIFAR writers


def chw_rows(images: Array) -> Array:
    return images.transpose(0, 3, 1, 2).reshape(len(images), 3072)


def cifar_pickle(batch: Mapping[bytes, object]) -> bytes:
    # Protocol 2 with numpy.core names, as the distributed Python 2 files use.
    return pickle.dumps(batch, protocol=2).replace(b"numpy._core", b"numpy.core")


def colour_images(count: int, seed: int) -> Array:
    return np.random.default_rng(seed).integers(0, 256, (count, 32, 32, 3), dtype=np.uint8)


def write_cifar10(folder: Path, per_batch: int = 4) -> tuple[Array, Array]:
    folder.mkdir(parents=True, exist_ok=True)
    train: list[Array] = []
    for index, name in enumerate([*(f"data_batch_{i}" for i in range(1, 6)), "test_batch"]):
        images = colour_images(per_batch, index)
        labels = [(index + i) % 10 for i in range(per_batch)]
        batch = {b"batch_label": b"x", b"data": chw_rows(images), b"labels": labels}
        (folder / name).write_bytes(cifar_pickle(batch))
        train.append(images)
    return np.concatenate(train[:5]), train[5]


def write_cifar100(folder: Path, count: int = 10) -> Array:
    folder.mkdir(parents=True, exist_ok=True)
    for index, name in enumerate(("train", "test")):
        images = colour_images(count, 10 + index)
        batch = {
            b"data": chw_rows(images),
            b"fine_labels": [(97 + i) % 100 for i in range(count)],
            b"coarse_labels": [(17 + i) % 20 for i in range(count)],
        }
        (folder / name).write_bytes(cifar_pickle(batch))
    return images


def tar_folder(archive: Path, folder: Path) -> None:
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname=folder.name)


# ---------------------------------------------------------------- CIFAR


def test_cifar10_batches_are_read_chw_to_nhwc(tmp_path: Path) -> None:
    train, test = write_cifar10(tmp_path / "cifar10" / "cifar-10-batches-py")
    ds = load("cifar10", data_dir=tmp_path, mode="real")
    assert ds.x_train.shape == (20, 32, 32, 3)
    np.testing.assert_array_equal(ds.x_train, train)
    np.testing.assert_array_equal(ds.x_test, test)
    assert ds.y_train[:4].tolist() == [0, 1, 2, 3]
    assert ds.preprocessing == ("CHW rows -> NHWC",)


def test_cifar10_reads_the_distributed_archive(tmp_path: Path) -> None:
    train, _ = write_cifar10(tmp_path / "unpacked" / "cifar-10-batches-py")
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    archive = data_dir / "cifar-10-python.tar.gz"
    tar_folder(archive, tmp_path / "unpacked" / "cifar-10-batches-py")
    ds = load("cifar10", data_dir=data_dir, mode="real")
    np.testing.assert_array_equal(ds.x_train, train)
    assert ds.origin.startswith(f"{archive} (cifar-10-batches-py/data_batch_1, ")


def test_cifar10_reads_the_keras3_cache_layout(tmp_path: Path) -> None:
    cache = Path(os.environ["KERAS_HOME"]) / "datasets" / "cifar-10-batches-py-target"
    _, test = write_cifar10(cache / "cifar-10-batches-py")
    ds = load("cifar10", mode="real", split="test", train_size=3, test_size=1)
    assert len(ds.x_train) == 3
    assert all(any(np.array_equal(image, t) for t in test) for image in ds.x_train)


def test_cifar10_split_test_needs_only_the_test_batch(tmp_path: Path) -> None:
    write_cifar10(tmp_path)
    for index in range(1, 6):
        (tmp_path / f"data_batch_{index}").unlink()
    ds = load("cifar10", data_dir=tmp_path, split="test", mode="real")
    assert (len(ds.x_train), len(ds.x_test)) == (3, 1)


@pytest.mark.parametrize(
    ("label_mode", "classes", "first"), [("fine", 100, 98), ("coarse", 20, 18)]
)
def test_cifar100_label_modes(tmp_path: Path, label_mode: str, classes: int, first: int) -> None:
    test = write_cifar100(tmp_path / "cifar-100-python")
    ds = load("cifar100", data_dir=tmp_path, mode="real", label_mode=label_mode)
    assert ds.num_classes == classes
    assert ds.y_test[1] == first
    np.testing.assert_array_equal(ds.x_test, test)
    assert ds.preprocessing == ("CHW rows -> NHWC", f"labels from '{label_mode}_labels'")


def test_cifar100_rejects_an_unknown_label_mode(tmp_path: Path) -> None:
    with pytest.raises(ValueError) as info:
        load("cifar100", data_dir=tmp_path, label_mode="medium")
    assert str(info.value) == (
        "Expected label_mode to be 'fine' (100 classes) or 'coarse' (20 classes). "
        "Received: label_mode='medium'"
    )


def test_truncated_cifar_batch_is_an_error(tmp_path: Path) -> None:
    write_cifar10(tmp_path)
    path = tmp_path / "data_batch_3"
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(DatasetCorrupt) as info:
        load("cifar10", data_dir=tmp_path)
    assert str(info.value).startswith(f"{path} is not a readable CIFAR batch (")
    assert str(info.value).endswith(
        "Expected the pickled dict of the CIFAR python version; replace it with a fresh copy."
    )


class _Trap:
    def __reduce__(self) -> tuple[object, tuple[()]]:
        return (os.getcwd, ())


def test_cifar_pickle_with_foreign_code_is_refused(tmp_path: Path) -> None:
    write_cifar10(tmp_path)
    path = tmp_path / "test_batch"
    path.write_bytes(pickle.dumps({b"data": _Trap(), b"labels": []}, protocol=2))
    with pytest.raises(DatasetCorrupt) as info:
        load("cifar10", data_dir=tmp_path)
    module = os.getcwd.__module__
    assert str(info.value).startswith(
        f"{path} is not a readable CIFAR batch (refusing to load the global {module}.getcwd)."
    )


def test_cifar_batch_with_wrong_row_length_is_an_error(tmp_path: Path) -> None:
    write_cifar10(tmp_path)
    path = tmp_path / "test_batch"
    batch = {b"data": np.zeros((4, 1024), np.uint8), b"labels": [0, 1, 2, 3]}
    path.write_bytes(cifar_pickle(batch))
    with pytest.raises(DatasetCorrupt) as info:
        load("cifar10", data_dir=tmp_path)
    assert str(info.value) == (
        f"{path} holds 'data' of shape (4, 1024) and dtype uint8. Expected uint8 rows of "
        "3072 values (3 channels x 32 x 32)."
    )


def test_cifar_batch_without_labels_is_an_error(tmp_path: Path) -> None:
    write_cifar10(tmp_path)
    path = tmp_path / "test_batch"
    path.write_bytes(cifar_pickle({b"data": np.zeros((4, 3072), np.uint8)}))
    with pytest.raises(DatasetCorrupt) as info:
        load("cifar10", data_dir=tmp_path)
    assert str(info.value) == (
        f"{path} lacks the entries 'data' and 'labels'. Received: keys=['data']"
    )


def test_cifar_batch_with_fewer_labels_than_images_is_an_error(tmp_path: Path) -> None:
    write_cifar10(tmp_path)
    path = tmp_path / "test_batch"
    path.write_bytes(cifar_pickle({b"data": np.zeros((4, 3072), np.uint8), b"labels": [1]}))
    with pytest.raises(DatasetCorrupt) as info:
        load("cifar10", data_dir=tmp_path)
    assert str(info.value) == (
        f"{path} holds 4 images but 1 'labels'. Expected one label per image."
    )


def test_cifar_pickle_that_is_not_a_dict_is_an_error(tmp_path: Path) -> None:
    write_cifar10(tmp_path)
    path = tmp_path / "test_batch"
    path.write_bytes(pickle.dumps([1, 2], protocol=2))
    with pytest.raises(DatasetCorrupt) as info:
        load("cifar10", data_dir=tmp_path)
    assert (
        str(info.value)
        == f"{path} is not a CIFAR batch. Expected a pickled dict. Received: type=list"
    )


def test_cifar_archive_missing_a_member_is_an_error(tmp_path: Path) -> None:
    folder = tmp_path / "unpacked" / "cifar-10-batches-py"
    write_cifar10(folder)
    (folder / "test_batch").unlink()
    archive = tmp_path / "cifar-10-python.tar.gz"
    tar_folder(archive, folder)
    with pytest.raises(DatasetCorrupt) as info:
        load("cifar10", data_dir=tmp_path)
    assert str(info.value) == (
        f"{archive} lacks the member cifar-10-batches-py/test_batch. Expected the CIFAR-10 "
        "python-version archive; replace it with a fresh copy."
    )


def test_truncated_cifar_archive_is_an_error(tmp_path: Path) -> None:
    folder = tmp_path / "unpacked" / "cifar-100-python"
    write_cifar100(folder)
    archive = tmp_path / "cifar-100-python.tar.gz"
    tar_folder(archive, folder)
    archive.write_bytes(archive.read_bytes()[:300])
    with pytest.raises(DatasetCorrupt) as info:
        load("cifar100", data_dir=tmp_path)
    assert str(info.value).startswith(f"{archive} is not a readable tar archive (")
    assert str(info.value).endswith(
        "Expected the CIFAR-100 python-version .tar.gz; replace it with a fresh copy."
    )


# ---------------------------------------------------------------- SVHN


def write_svhn(path: Path, count: int, seed: int) -> tuple[Array, Array]:
    from scipy.io import savemat

    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (count, 32, 32, 3), dtype=np.uint8)
    digits_ = np.arange(count) % 10
    stored = np.where(digits_ == 0, 10, digits_).astype(np.uint8)[:, np.newaxis]
    path.parent.mkdir(parents=True, exist_ok=True)
    savemat(str(path), {"X": images.transpose(1, 2, 3, 0), "y": stored})
    return images, digits_


def test_svhn_mat_files_are_transposed_and_label_10_becomes_0(tmp_path: Path) -> None:
    train, train_digits = write_svhn(tmp_path / "svhn" / "train_32x32.mat", 12, 0)
    write_svhn(tmp_path / "svhn" / "test_32x32.mat", 10, 1)
    ds = load("svhn", data_dir=tmp_path, mode="real")
    np.testing.assert_array_equal(ds.x_train, train)
    np.testing.assert_array_equal(ds.y_train, train_digits)
    assert ds.y_train[0] == 0
    assert ds.preprocessing == ("X transposed HxWxCxN -> NHWC", "label 10 -> 0")


def test_svhn_extra_is_appended_when_asked(tmp_path: Path) -> None:
    write_svhn(tmp_path / "train_32x32.mat", 10, 0)
    write_svhn(tmp_path / "test_32x32.mat", 10, 1)
    extra, _ = write_svhn(tmp_path / "extra_32x32.mat", 5, 2)
    ds = load("svhn", data_dir=tmp_path, mode="real", include_extra=True)
    assert len(ds.x_train) == 15
    np.testing.assert_array_equal(ds.x_train[10:], extra)
    assert ds.preprocessing[-1] == "extra_32x32 appended to train"


def test_svhn_include_extra_must_be_a_bool(tmp_path: Path) -> None:
    with pytest.raises(ValueError) as info:
        load("svhn", data_dir=tmp_path, include_extra="yes")
    assert (
        str(info.value)
        == "Expected include_extra to be True or False. Received: include_extra='yes'"
    )


def test_truncated_svhn_file_is_an_error(tmp_path: Path) -> None:
    write_svhn(tmp_path / "test_32x32.mat", 10, 1)
    path = tmp_path / "test_32x32.mat"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(DatasetCorrupt) as info:
        load("svhn", data_dir=tmp_path, split="test")
    assert str(info.value).startswith(f"{path} is not a readable MATLAB file (")
    assert str(info.value).endswith("Expected an SVHN format-2 file; replace it with a fresh copy.")


def test_svhn_file_without_x_and_y_is_an_error(tmp_path: Path) -> None:
    from scipy.io import savemat

    path = tmp_path / "test_32x32.mat"
    savemat(str(path), {"images": np.zeros((2, 2))})
    with pytest.raises(DatasetCorrupt) as info:
        load("svhn", data_dir=tmp_path, split="test")
    assert str(info.value) == (
        f"{path} lacks the variables X and y. Expected an SVHN format-2 file. "
        "Received: variables=['images']"
    )


def test_svhn_images_stored_image_first_are_an_error(tmp_path: Path) -> None:
    from scipy.io import savemat

    path = tmp_path / "test_32x32.mat"
    savemat(str(path), {"X": np.zeros((4, 32, 32, 3), np.uint8), "y": np.ones((4, 1), np.uint8)})
    with pytest.raises(DatasetCorrupt) as info:
        load("svhn", data_dir=tmp_path, split="test")
    assert str(info.value) == (
        f"{path} holds X of shape (4, 32, 32, 3) and dtype uint8. Expected uint8 images "
        "stored height x width x 3 x N."
    )


def test_svhn_label_count_must_match(tmp_path: Path) -> None:
    from scipy.io import savemat

    path = tmp_path / "test_32x32.mat"
    savemat(str(path), {"X": np.zeros((32, 32, 3, 4), np.uint8), "y": np.ones((3, 1), np.uint8)})
    with pytest.raises(DatasetCorrupt) as info:
        load("svhn", data_dir=tmp_path, split="test")
    assert str(info.value) == (f"{path} holds 4 images but 3 labels. Expected one label per image.")


def test_svhn_non_integer_labels_are_an_error(tmp_path: Path) -> None:
    from scipy.io import savemat

    path = tmp_path / "test_32x32.mat"
    savemat(str(path), {"X": np.zeros((32, 32, 3, 2), np.uint8), "y": np.array([[1.5], [2.0]])})
    with pytest.raises(DatasetCorrupt) as info:
        load("svhn", data_dir=tmp_path, split="test")
    assert str(info.value) == f"{path} holds non-integer labels. Expected digits 1..10."


def test_sources_without_a_download_or_files_say_so() -> None:
    with pytest.raises(NotImplementedError) as info:
        SvhnSource().download({"include_extra": False})
    assert str(info.value) == "SVHN cannot be downloaded through keras.datasets."
    with pytest.raises(NotImplementedError) as info:
        SyntheticSource().read(None, "standard", {}, 0)  # type: ignore[arg-type]
    assert str(info.value) == "Synthetic data are generated by synthetic_arrays()."


def test_svhn_without_scipy_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_svhn(tmp_path / "test_32x32.mat", 10, 1)
    monkeypatch.setitem(sys.modules, "scipy", None)
    monkeypatch.setitem(sys.modules, "scipy.io", None)
    with pytest.raises(DatasetError) as info:
        load("svhn", data_dir=tmp_path, split="test")
    assert str(info.value) == (
        "Reading SVHN's .mat files needs scipy, which is not installed. "
        "Install it with: pip install pytest-cnnperf[svhn]"
    )


# ---------------------------------------------------------------- image folders

# Solid colours per class: resizing keeps a solid image's colour exactly.
COLOURS = {"cat": (200, 30, 30), "ant": (10, 220, 40), "bee": (5, 5, 250)}


def write_png(path: Path, colour: tuple[int, ...], height: int = 6, width: int = 9) -> None:
    from PIL import Image

    image = np.broadcast_to(np.array(colour, np.uint8), (height, width, len(colour)))
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.ascontiguousarray(image)).save(path)


def write_image_folder(root: Path, per_class: dict[str, int]) -> None:
    for name, count in per_class.items():
        for index in range(count):
            write_png(root / name / f"{index:03d}.png", COLOURS[name], 6 + index, 9)


def test_image_folder_train_val_layout(tmp_path: Path) -> None:
    root = tmp_path / "image_folder"
    write_image_folder(root / "train", {"cat": 3, "ant": 2})
    write_image_folder(root / "val", {"cat": 1, "ant": 1})
    ds = load("image_folder", data_dir=tmp_path, mode="real", image_size=(4, 5))
    assert ds.num_classes == 2
    assert ds.input_shape == (4, 5, 3)
    assert ds.x_train.shape == (5, 4, 5, 3)
    # Classes sorted by name: ant = 0, cat = 1.
    assert ds.y_train.tolist() == [0, 0, 1, 1, 1]
    assert ds.y_test.tolist() == [0, 1]
    np.testing.assert_array_equal(ds.x_train[0], np.broadcast_to(COLOURS["ant"], (4, 5, 3)))
    np.testing.assert_array_equal(ds.x_test[1], np.broadcast_to(COLOURS["cat"], (4, 5, 3)))
    assert ds.preprocessing == (
        "decoded (Pillow) and resized to 4x5x3 (bilinear, as tf.image.resize)",
    )
    assert ds.origin == f"{root} (train/ and val/, 2 classes)"


def test_image_folder_single_root_is_split_by_seed(tmp_path: Path) -> None:
    root = tmp_path / "flowers"
    write_image_folder(root, {"cat": 5, "ant": 5, "bee": 5})
    first = load("image_folder", root=root, mode="real", image_size=3, channels=1)
    again = load("image_folder", root=root, mode="real", image_size=3, channels=1, seed=0)
    other = load("image_folder", root=root, mode="real", image_size=3, channels=1, seed=1)
    assert first.input_shape == (3, 3, 1)
    assert (len(first.y_train), len(first.y_test)) == (12, 3)
    assert sorted(first.y_test.tolist()) == [0, 1, 2]
    assert first is again
    assert first.preprocessing[-1] == "split 12/3 from one class-folder root, stratified (seed 0)"
    assert other.preprocessing[-1].endswith("(seed 1)")


def test_image_folder_split_test_needs_only_val(tmp_path: Path) -> None:
    write_image_folder(tmp_path / "val", {"ant": 5, "bee": 5})
    ds = load("image_folder", data_dir=tmp_path, mode="real", split="test", image_size=2)
    assert (len(ds.x_train), len(ds.x_test)) == (8, 2)


def test_image_folder_undecodable_image_is_named(tmp_path: Path) -> None:
    write_image_folder(tmp_path / "train", {"cat": 2, "ant": 2})
    write_image_folder(tmp_path / "val", {"cat": 1, "ant": 1})
    broken = tmp_path / "train" / "cat" / "001.png"
    broken.write_bytes(b"not a png at all")
    with pytest.raises(DatasetCorrupt) as info:
        load("image_folder", data_dir=tmp_path, image_size=4)
    assert str(info.value) == (
        f"{broken} could not be decoded as an image (not a format Pillow reads). Expected a "
        "readable image (.bmp, .gif, .jpeg, .jpg, .png); replace or remove the file."
    )


def photo(rng: np.random.Generator, height: int, width: int) -> Any:
    """A smooth random RGB image with grain, as a PIL image (JPEG compresses it as a photo)."""
    from PIL import Image

    coarse = Image.fromarray(rng.integers(0, 256, (height // 8 + 2, width // 8 + 2, 3), np.uint8))
    smooth = np.asarray(coarse.resize((width, height), Image.Resampling.BICUBIC), np.int16)
    grain = rng.integers(-20, 21, (height, width, 3))
    return Image.fromarray(np.clip(smooth + grain, 0, 255).astype(np.uint8))


def tensorflow_decoded(path: Path, size: tuple[int, int], channels: int) -> Any:
    """What a tf.data pipeline of decode, bilinear resize and rounding gives for ``path``."""
    from pytest_cnnperf.backends.imports import import_tensorflow

    tf = import_tensorflow()
    data = tf.io.read_file(str(path))
    if path.suffix == ".jpg":
        # libjpeg's accurate integer DCT, Pillow's; TensorFlow's default is the fast one.
        image = tf.io.decode_jpeg(data, channels=channels, dct_method="INTEGER_ACCURATE")
    else:
        image = tf.io.decode_image(data, channels=channels, expand_animations=False)
    resized = tf.image.resize(image, size, method="bilinear")
    return tf.cast(tf.clip_by_value(tf.round(resized), 0.0, 255.0), tf.uint8).numpy()


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".bmp", ".gif"])
@pytest.mark.parametrize("grey", [False, True], ids=["rgb", "grey"])
def test_image_folder_pixels_are_tensorflow_s_to_the_bit(
    tmp_path: Path, suffix: str, grey: bool
) -> None:
    from pytest_cnnperf.datasets.image_folder import decode_images

    rng = np.random.default_rng(3)
    paths = []
    for index, (height, width) in enumerate([(37, 53), (200, 150), (224, 224)]):
        image = photo(rng, height, width)
        paths.append(tmp_path / f"{index}{suffix}")
        (image.convert("L") if grey else image).save(paths[-1], quality=90)
    for size in [(31, 45), (224, 224)]:
        got = decode_images(paths, size, 3)
        expected = np.stack([tensorflow_decoded(path, size, 3) for path in paths])
        assert got.dtype == np.uint8 and got.shape == expected.shape
        assert np.array_equal(got, expected)
        if grey and suffix in (".png", ".jpg"):  # TensorFlow decodes neither BMP nor GIF to grey
            expected = np.stack([tensorflow_decoded(path, size, 1) for path in paths])
            assert np.array_equal(decode_images(paths, size, 1), expected)


def test_image_folder_makes_grey_by_the_luma_weights_of_prepare(tmp_path: Path) -> None:
    from pytest_cnnperf.datasets.image_folder import decode_images
    from pytest_cnnperf.datasets.pixels import LUMA_WEIGHTS

    colours = [(200, 30, 30), (10, 220, 40), (5, 5, 250), (0, 0, 0), (255, 255, 255)]
    paths = []
    for index, colour in enumerate(colours):
        # BMP: TensorFlow's decoder refused channels=1 for BMP and GIF files.
        paths.append(tmp_path / f"{index}.bmp")
        write_png(paths[-1], colour)
    got = decode_images(paths, (3, 4), 1)
    expected = np.rint(np.array(colours, np.float32) @ LUMA_WEIGHTS).astype(np.uint8)
    assert got.shape == (5, 3, 4, 1)
    assert np.array_equal(got[:, 0, 0, 0], expected)
    assert np.array_equal(got, np.broadcast_to(expected[:, None, None, None], got.shape))


def test_image_folder_reads_palettes_alpha_animations_and_16_bit_grey(tmp_path: Path) -> None:
    from PIL import Image

    from pytest_cnnperf.datasets.image_folder import decode_images

    rgba = tmp_path / "rgba.png"
    Image.fromarray(np.full((4, 4, 4), (9, 80, 200, 0), np.uint8)).save(rgba)
    palette = tmp_path / "palette.png"
    Image.fromarray(np.full((4, 4, 3), (250, 120, 3), np.uint8)).convert(
        "P", palette=Image.Palette.ADAPTIVE
    ).save(palette)
    animation = tmp_path / "animation.gif"
    frames = [Image.new("RGB", (4, 4), colour) for colour in [(255, 0, 0), (0, 0, 255)]]
    frames[0].save(animation, save_all=True, append_images=frames[1:])
    deep = tmp_path / "deep.png"
    Image.fromarray(np.full((4, 4), 0x4A7F, np.uint16)).save(deep)
    got = decode_images([rgba, palette, animation, deep], (2, 2), 3)
    # Alpha is dropped, not blended; the first frame of an animation; 16-bit grey's high byte.
    assert got[:, 0, 0].tolist() == [[9, 80, 200], [250, 120, 3], [255, 0, 0], [0x4A] * 3]


def test_image_folder_truncated_jpeg_is_named(tmp_path: Path) -> None:
    from pytest_cnnperf.datasets.image_folder import decode_images

    whole, cut = tmp_path / "whole.jpg", tmp_path / "cut.jpg"
    photo(np.random.default_rng(0), 64, 64).save(whole)
    cut.write_bytes(whole.read_bytes()[:300])
    with pytest.raises(DatasetCorrupt) as info:
        decode_images([whole, cut, whole], (8, 8), 3)
    assert str(info.value) == (
        f"{cut} could not be decoded as an image (Truncated File Read). Expected a readable "
        "image (.bmp, .gif, .jpeg, .jpg, .png); replace or remove the file."
    )


def test_image_folder_stops_decoding_after_a_bad_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    from pytest_cnnperf.datasets import image_folder

    decoded = []

    def decode(path: Path, size: tuple[int, int], channels: int) -> Any:
        decoded.append(path)
        if path.name == "000.png":
            raise DatasetCorrupt(f"{path} is bad")
        time.sleep(0.002)
        return np.zeros((*size, channels), np.uint8)

    monkeypatch.setattr(image_folder, "decode_image", decode)
    paths = [tmp_path / f"{index:03d}.png" for index in range(300)]
    with pytest.raises(DatasetCorrupt, match=r"000\.png is bad"):
        image_folder.decode_images(paths, (2, 2), 3)
    # Executor.map cancels the files queued behind the bad one: they are not decoded.
    assert len(decoded) < 100


def test_image_folder_keeps_the_order_of_the_files(tmp_path: Path) -> None:
    from pytest_cnnperf.datasets.image_folder import decode_images

    paths = []
    for index in range(60):  # more files than threads, of different sizes
        paths.append(tmp_path / f"{index:02d}.png")
        write_png(paths[-1], (index, 255 - index, 3 * index), 5 + index % 7, 9)
    got = decode_images(paths, (3, 3), 3)
    assert got[:, 1, 1].tolist() == [[i, 255 - i, 3 * i] for i in range(60)]


def test_image_folder_loads_without_tensorflow(tmp_path: Path) -> None:
    write_image_folder(tmp_path / "train", {"cat": 2, "ant": 2})
    write_image_folder(tmp_path / "val", {"cat": 1, "ant": 1})
    code = (
        "import sys\n"
        "from pytest_cnnperf.datasets import load\n"
        f"ds = load('image_folder', data_dir={str(tmp_path)!r}, mode='real', image_size=5)\n"
        "print(ds.x_train.shape, 'tensorflow' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "(4, 5, 5, 3) False"


def test_image_folder_val_class_missing_from_train_is_an_error(tmp_path: Path) -> None:
    write_image_folder(tmp_path / "train", {"cat": 1, "ant": 1})
    write_image_folder(tmp_path / "val", {"cat": 1, "bee": 1})
    with pytest.raises(DatasetCorrupt) as info:
        load("image_folder", data_dir=tmp_path)
    assert str(info.value) == (
        f"{tmp_path / 'val'} has class folders that train/ lacks. Expected the classes of "
        "val/ to be among those of train/. Received: ['bee']"
    )


def test_image_folder_empty_train_class_is_an_error(tmp_path: Path) -> None:
    write_image_folder(tmp_path / "train", {"cat": 1})
    write_image_folder(tmp_path / "val", {"cat": 1})
    (tmp_path / "train" / "dog").mkdir()
    with pytest.raises(DatasetCorrupt) as info:
        load("image_folder", data_dir=tmp_path)
    assert str(info.value) == (
        f"{tmp_path / 'train' / 'dog'} holds no images (.bmp, .gif, .jpeg, .jpg, .png). "
        "Expected at least one image in every class folder; add images or remove the folder."
    )


def test_image_folder_without_class_folders_in_val_is_an_error(tmp_path: Path) -> None:
    write_image_folder(tmp_path / "train", {"cat": 1})
    (tmp_path / "val").mkdir()
    with pytest.raises(DatasetCorrupt) as info:
        load("image_folder", data_dir=tmp_path)
    assert str(info.value) == (
        f"{tmp_path / 'val'} holds no class folders. Expected one folder of images per class."
    )


def test_image_folder_num_classes_must_match_the_folders(tmp_path: Path) -> None:
    write_image_folder(tmp_path / "train", {"cat": 1, "ant": 1})
    write_image_folder(tmp_path / "val", {"cat": 1, "ant": 1})
    with pytest.raises(DatasetError) as info:
        load("image_folder", data_dir=tmp_path, num_classes=10)
    assert str(info.value) == (
        f"{tmp_path} has 2 class folders. Expected 10 (num_classes=10); pass "
        "num_classes=None to count them."
    )


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (
            {"image_size": (224, 0)},
            "Expected image_size to be a positive int or a (height, width) pair of them, "
            "such as 224 or (227, 227). Received: image_size=(224, 0)",
        ),
        ({"channels": 4}, "Expected channels to be 1 (grey) or 3 (RGB). Received: channels=4"),
        (
            {"val_fraction": 1.5},
            "Expected val_fraction to be a float strictly between 0 and 1, the share of a "
            "single class-folder root held out for testing. Received: val_fraction=1.5",
        ),
        ({"root": 3}, "Expected root to be a path to the image folder. Received: root=3"),
        (
            {"num_classes": 0},
            "Expected num_classes to be a positive int (or None to count the class folders). "
            "Received: num_classes=0",
        ),
    ],
)
def test_image_folder_option_errors(tmp_path: Path, option: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as info:
        load("image_folder", data_dir=tmp_path, **option)
    assert str(info.value) == message


def test_image_folder_missing_falls_back_at_the_requested_size(tmp_path: Path) -> None:
    ds = load("image_folder", data_dir=tmp_path, image_size=(12, 10), train_size=20, test_size=10)
    assert ds.source == "synthetic"
    assert ds.x_train.shape == (20, 12, 10, 3)
    assert ds.num_classes == 10
