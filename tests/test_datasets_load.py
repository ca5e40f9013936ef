"""`load`: search order, real/auto modes, subsets, caching, downloads, arguments."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pytest_cnnperf.datasets import (
    DatasetCorrupt,
    DatasetError,
    DatasetNotFound,
    DatasetUsageError,
    clear_cache,
    load,
    names,
)
from pytest_cnnperf.datasets.core import Array
from pytest_cnnperf.datasets.idx import MnistSource
from pytest_cnnperf.datasets.source import Options, Raw
from pytest_cnnperf.datasets.subsets import allocate, stratified_split

# Unequal classes, so that stratification has proportions to keep.
CLASS_COUNTS = [30, 20, 10, 10, 10, 5, 5, 4, 3, 3]


@pytest.fixture(autouse=True)
def _isolated(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """Point the Keras cache at an empty folder and unset CNNPERF_DATA_DIR."""
    keras_home = tmp_path_factory.mktemp("keras_home")
    monkeypatch.setenv("KERAS_HOME", str(keras_home))
    monkeypatch.delenv("CNNPERF_DATA_DIR", raising=False)
    clear_cache()
    yield keras_home
    clear_cache()


def labelled(counts: list[int], offset: int) -> tuple[Array, Array]:
    """Images whose first two pixels hold a unique id, and labels with `counts`."""
    labels = np.repeat(np.arange(len(counts)), counts).astype(np.uint8)
    ids = np.arange(len(labels)) + offset
    images = np.zeros((len(labels), 28, 28), np.uint8)
    images[:, 0, 0], images[:, 0, 1] = ids // 256, ids % 256
    return images, labels


def image_ids(images: Array) -> Array:
    return images[:, 0, 0, 0].astype(np.int64) * 256 + images[:, 0, 1, 0]


def write_npz(
    folder: Path, train: list[int] = CLASS_COUNTS, test: list[int] = CLASS_COUNTS
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    x_train, y_train = labelled(train, 0)
    x_test, y_test = labelled(test, 1000)
    path = folder / "mnist.npz"
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return path


# ---------------------------------------------------------------- where files are found


def test_names_lists_every_loader() -> None:
    assert names() == (
        "mnist",
        "fashion_mnist",
        "cifar10",
        "cifar100",
        "svhn",
        "image_folder",
        "synthetic",
    )


def test_data_dir_comes_before_the_environment_and_the_keras_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, _isolated: Path
) -> None:
    argument = write_npz(tmp_path / "argument")
    variable = write_npz(tmp_path / "variable" / "mnist")
    cache = write_npz(_isolated / "datasets")
    monkeypatch.setenv("CNNPERF_DATA_DIR", str(tmp_path / "variable"))
    assert load("mnist", data_dir=tmp_path / "argument").origin == str(argument)
    assert load("mnist").origin == str(variable)
    monkeypatch.delenv("CNNPERF_DATA_DIR")
    assert load("mnist").origin == str(cache)


def test_name_folder_comes_before_the_data_dir_itself(tmp_path: Path) -> None:
    write_npz(tmp_path)
    nested = write_npz(tmp_path / "mnist")
    assert load("mnist", data_dir=tmp_path).origin == str(nested)


def test_missing_real_data_names_every_place_and_how_to_provide_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, _isolated: Path
) -> None:
    monkeypatch.setenv("CNNPERF_DATA_DIR", str(tmp_path / "env"))
    (tmp_path / "data" / "mnist").mkdir(parents=True)
    (tmp_path / "data" / "mnist" / "train-images-idx3-ubyte.gz").write_bytes(b"")
    cache = _isolated / "datasets"
    with pytest.raises(DatasetNotFound) as info:
        load("mnist", data_dir=tmp_path / "data", mode="real")
    assert isinstance(info.value, DatasetError)
    assert str(info.value) == "\n".join(
        [
            "Could not find the MNIST files. Looked in:",
            f"  - {tmp_path / 'data' / 'mnist'} (data_dir argument): lacks "
            "train-labels-idx1-ubyte[.gz], t10k-images-idx3-ubyte[.gz], "
            "t10k-labels-idx1-ubyte[.gz]",
            f"  - {tmp_path / 'data'} (data_dir argument): holds no MNIST files",
            f"  - {tmp_path / 'env' / 'mnist'} (CNNPERF_DATA_DIR): does not exist",
            f"  - {tmp_path / 'env'} (CNNPERF_DATA_DIR): does not exist",
            f"  - {cache / 'mnist'} (Keras cache): does not exist",
            f"  - {cache} (Keras cache): does not exist",
            "Expected train-images-idx3-ubyte, train-labels-idx1-ubyte, "
            "t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte (each gzip-compressed with .gz "
            "or not), or the Keras mnist.npz, in DIR/mnist/ or DIR/ where DIR is passed with "
            "--cnnperf-data-dir DIR (ini: cnnperf_data_dir) or the CNNPERF_DATA_DIR "
            f"environment variable, or in the Keras cache {cache}.",
            "No download was attempted (offline=True); with offline=False the files are "
            "fetched through keras.datasets.mnist.load_data().",
            "With mode='auto' synthetic data of the same shapes would stand in instead.",
            "Received: name='mnist', mode='real', split='standard'",
        ]
    )


def test_missing_svhn_message_lists_its_files_and_no_download(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFound) as info:
        load("svhn", data_dir=tmp_path, mode="real", split="test")
    message = str(info.value)
    assert f"  - {tmp_path / 'svhn'} (data_dir argument): does not exist\n" in message
    assert (
        "Expected test_32x32.mat (SVHN format 2, cropped digits), in DIR/svhn/ or DIR/" in message
    )
    assert "download" not in message
    assert message.endswith("Received: name='svhn', mode='real', split='test'")


def test_keras_cache_folders_of_cifar_are_searched(_isolated: Path) -> None:
    with pytest.raises(DatasetNotFound) as info:
        load("cifar10", mode="real")
    target = _isolated / "datasets" / "cifar-10-batches-py-target"
    assert f"  - {target} (Keras cache): does not exist\n" in str(info.value)


def test_missing_data_in_auto_mode_falls_back_to_synthetic(tmp_path: Path) -> None:
    ds = load(
        "cifar100", data_dir=tmp_path, label_mode="coarse", train_size=40, test_size=20, seed=3
    )
    assert ds.source == "synthetic"
    assert ds.name == "cifar100"
    assert ds.origin == "synthetic(seed=3)"
    assert ds.x_train.shape == (40, 32, 32, 3)
    assert ds.x_test.shape == (20, 32, 32, 3)
    assert ds.x_train.dtype == np.uint8
    assert ds.num_classes == 20
    assert ds.y_train.max() < 20
    assert ds.fallback_reason is not None
    assert ds.fallback_reason.startswith(
        f"no CIFAR-100 files found (looked in 6 places: {tmp_path / 'cifar100'}, {tmp_path}, "
    )
    assert ds.fallback_reason.endswith(
        "; synthetic data of the same shapes, classes and sizes stand in"
    )


def test_fallback_sizes_follow_the_real_split(tmp_path: Path) -> None:
    ds = load("mnist", data_dir=tmp_path, split="test")
    assert (len(ds.x_train), len(ds.x_test)) == (8_000, 2_000)
    assert ds.input_shape == (28, 28, 1)


def test_corrupt_file_is_an_error_even_in_auto_mode(tmp_path: Path) -> None:
    (tmp_path / "mnist.npz").write_bytes(b"garbage")
    with pytest.raises(DatasetCorrupt):
        load("mnist", data_dir=tmp_path, mode="auto")


# ---------------------------------------------------------------- subsets


def test_subsets_are_stratified_and_seeded(tmp_path: Path) -> None:
    write_npz(tmp_path)
    ds = load("mnist", data_dir=tmp_path, train_size=50, test_size=25, seed=7)
    assert np.bincount(ds.y_train, minlength=10).tolist() == [15, 10, 5, 5, 5, 3, 3, 2, 1, 1]
    assert (
        np.bincount(ds.y_test, minlength=10).tolist()
        == allocate(np.array(CLASS_COUNTS), 25).tolist()
    )
    assert ds.preprocessing == ("stratified subset 50/25 of 100/100 (seed 7)",)
    clear_cache()
    again = load("mnist", data_dir=tmp_path, train_size=50, test_size=25, seed=7)
    np.testing.assert_array_equal(again.x_train, ds.x_train)
    other = load("mnist", data_dir=tmp_path, train_size=50, test_size=25, seed=8)
    assert not np.array_equal(image_ids(other.x_train), image_ids(ds.x_train))


def test_whole_splits_are_kept_without_a_subset_step(tmp_path: Path) -> None:
    write_npz(tmp_path)
    ds = load("mnist", data_dir=tmp_path)
    assert (len(ds.x_train), len(ds.x_test)) == (100, 100)
    assert ds.preprocessing == ()


def test_split_test_carves_disjoint_train_and_test_from_the_test_split(tmp_path: Path) -> None:
    write_npz(tmp_path)
    ds = load("mnist", data_dir=tmp_path, split="test", seed=1)
    train_ids, test_ids = image_ids(ds.x_train), image_ids(ds.x_test)
    assert (len(train_ids), len(test_ids)) == (80, 20)
    assert train_ids.min() >= 1000
    assert set(train_ids.tolist()).isdisjoint(test_ids.tolist())
    exact = np.array(CLASS_COUNTS) * 20 / 100
    assert np.all(np.abs(np.bincount(ds.y_test, minlength=10) - exact) < 1)
    assert ds.preprocessing == (
        "train 80 and test 20 carved from the 100-image test split, stratified (seed 1)",
    )


def test_split_test_with_one_size_gives_the_rest_to_the_other(tmp_path: Path) -> None:
    write_npz(tmp_path)
    ds = load("mnist", data_dir=tmp_path, split="test", train_size=70)
    assert (len(ds.x_train), len(ds.x_test)) == (70, 30)
    ds = load("mnist", data_dir=tmp_path, split="test", test_size=10)
    assert (len(ds.x_train), len(ds.x_test)) == (90, 10)


def test_split_test_needs_only_the_test_arrays(tmp_path: Path) -> None:
    x_test, y_test = labelled(CLASS_COUNTS, 0)
    np.savez(tmp_path / "mnist.npz", x_test=x_test, y_test=y_test)
    ds = load("mnist", data_dir=tmp_path, split="test", mode="real")
    assert ds.source == "real"


def test_stratified_split_never_overlaps_and_keeps_sizes() -> None:
    labels = np.repeat(np.arange(3), [1, 2, 9])
    first, second = stratified_split(labels, (6, 6), np.random.default_rng(0))
    assert (len(first), len(second)) == (6, 6)
    assert set(first.tolist()).isdisjoint(second.tolist())


def test_allocate_keeps_proportions_within_one_image() -> None:
    counts = np.array([980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009])
    quotas = allocate(counts, 2000)
    assert quotas.sum() == 2000
    assert np.all(np.abs(quotas - counts * 2000 / counts.sum()) < 1)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            {"train_size": 101},
            "Expected train_size <= 100, the number of images in the MNIST train split. "
            "Received: train_size=101",
        ),
        (
            {"test_size": 500},
            "Expected test_size <= 100, the number of images in the MNIST test split. "
            "Received: test_size=500",
        ),
        (
            {"split": "test", "train_size": 90, "test_size": 20},
            "Expected train_size + test_size <= 100, the number of images in the MNIST test "
            "split that split='test' carves both subsets from, with at least one image in "
            "each. Received: train_size=90, test_size=20",
        ),
        (
            {"split": "test", "test_size": 100},
            "Expected train_size + test_size <= 100, the number of images in the MNIST test "
            "split that split='test' carves both subsets from, with at least one image in "
            "each. Received: train_size=None, test_size=100",
        ),
    ],
)
def test_sizes_larger_than_the_data_are_an_error(
    tmp_path: Path, arguments: dict[str, Any], message: str
) -> None:
    write_npz(tmp_path)
    with pytest.raises(DatasetError) as info:
        load("mnist", data_dir=tmp_path, **arguments)
    assert str(info.value) == message


def test_synthetic_fallback_refuses_sizes_real_data_would_refuse(tmp_path: Path) -> None:
    with pytest.raises(DatasetError) as info:
        load("mnist", data_dir=tmp_path, train_size=60_001)
    assert str(info.value) == (
        "Expected train_size <= 60,000, the number of images in the MNIST train split. "
        "Received: train_size=60001"
    )


# ---------------------------------------------------------------- cache


def test_results_are_cached_and_read_only(tmp_path: Path) -> None:
    write_npz(tmp_path)
    first = load("mnist", data_dir=tmp_path, train_size=20, test_size=10)
    assert load("mnist", data_dir=tmp_path, train_size=20, test_size=10) is first
    assert load("mnist", data_dir=tmp_path, train_size=20, test_size=11) is not first
    with pytest.raises(ValueError, match="read-only"):
        first.x_train[0, 0, 0, 0] = 1


def test_a_rewritten_file_is_read_again(tmp_path: Path) -> None:
    path = write_npz(tmp_path)
    first = load("mnist", data_dir=tmp_path)
    write_npz(tmp_path, train=[5] * 10)
    os.utime(path, ns=(path.stat().st_mtime_ns + 10**9,) * 2)
    second = load("mnist", data_dir=tmp_path)
    assert (len(first.x_train), len(second.x_train)) == (100, 50)


# ---------------------------------------------------------------- downloads


def _arrays_raw(options: Options) -> Raw:
    from pytest_cnnperf.datasets.source import Part

    images, labels = labelled(CLASS_COUNTS, 0)
    part = Part.of(images[..., np.newaxis], labels)
    return Raw(train=part, test=part, num_classes=10, origin="fetched", steps=())


def test_offline_never_downloads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(self: MnistSource, options: Options) -> Raw:
        raise AssertionError("download attempted while offline")

    monkeypatch.setattr(MnistSource, "download", forbidden)
    assert load("mnist", data_dir=tmp_path, train_size=10, test_size=10).source == "synthetic"


def test_online_download_goes_through_keras_datasets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pytest_cnnperf.backends.imports import import_keras

    keras = import_keras()
    images, labels = labelled(CLASS_COUNTS, 0)
    calls: list[str] = []

    def fake_load_data() -> tuple[tuple[Array, Array], tuple[Array, Array]]:
        calls.append("mnist")
        return (images, labels), (images[:10], labels[:10])

    monkeypatch.setattr(keras.datasets.mnist, "load_data", fake_load_data)
    ds = load("mnist", data_dir=tmp_path, offline=False, mode="real")
    assert calls == ["mnist"]
    assert ds.source == "real"
    assert ds.origin == "keras.datasets.mnist.load_data() (downloaded)"
    assert ds.x_train.shape == (100, 28, 28, 1)


def test_failed_download_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def unreachable(self: MnistSource, options: Options) -> Raw:
        raise OSError("network is unreachable")

    monkeypatch.setattr(MnistSource, "download", unreachable)
    with pytest.raises(DatasetNotFound) as info:
        load("mnist", data_dir=tmp_path, offline=False, mode="real")
    assert (
        "\nDownloading through keras.datasets.mnist.load_data() failed: OSError: "
        "network is unreachable.\n"
    ) in str(info.value)
    assert "No download was attempted" not in str(info.value)
    ds = load("mnist", data_dir=tmp_path, offline=False, train_size=10, test_size=10)
    assert ds.fallback_reason is not None
    assert (
        "; downloading through keras.datasets.mnist.load_data() failed: OSError: network is "
        "unreachable; synthetic data"
    ) in ds.fallback_reason


def test_download_result_is_subset_like_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(MnistSource, "download", lambda self, options: _arrays_raw(options))
    ds = load("mnist", data_dir=tmp_path, offline=False, split="test", mode="real")
    assert ds.origin == "fetched"
    assert (len(ds.x_train), len(ds.x_test)) == (80, 20)


# ---------------------------------------------------------------- arguments


@pytest.mark.parametrize(
    ("name", "arguments", "message"),
    [
        (
            "imagenet",
            {},
            "Expected a data set name among mnist, fashion_mnist, cifar10, cifar100, svhn, "
            "image_folder, synthetic. Received: name='imagenet'. Did you mean 'image_folder'?",
        ),
        (
            "mnist",
            {"train_size": 0},
            "Expected train_size to be a positive int or None. Received: train_size=0",
        ),
        (
            "mnist",
            {"test_size": 2.5},
            "Expected test_size to be a positive int or None. Received: test_size=2.5",
        ),
        ("mnist", {"seed": -1}, "Expected seed to be a non-negative int. Received: seed=-1"),
        ("mnist", {"mode": "fake"}, "Expected mode to be 'auto' or 'real'. Received: mode='fake'"),
        (
            "mnist",
            {"offline": "no"},
            "Expected offline to be True or False. Received: offline='no'",
        ),
        (
            "mnist",
            {"split": "val"},
            "Expected split to be 'standard' or 'test'. Received: split='val'",
        ),
        (
            "mnist",
            {"label_mode": "fine"},
            "Expected only the options 'mnist' accepts (split). Received: label_mode='fine'",
        ),
        (
            "mnist",
            {"splitt": "test"},
            "Expected only the options 'mnist' accepts (split). Received: splitt='test'. "
            "Did you mean 'split'?",
        ),
        (
            "cifar100",
            {"image_size": 32},
            "Expected only the options 'cifar100' accepts (label_mode, split). "
            "Received: image_size=32",
        ),
        (
            "cifar100",
            {"labelmode": "fine", "splitt": "test"},
            "Expected only the options 'cifar100' accepts (label_mode, split). "
            "Received: labelmode='fine', splitt='test'. "
            "Did you mean 'label_mode' for labelmode, 'split' for splitt?",
        ),
        (
            "coco",
            {},
            "Expected a data set name among mnist, fashion_mnist, cifar10, cifar100, svhn, "
            "image_folder, synthetic. Received: name='coco'",
        ),
        (
            "mnistt",
            {},
            "Expected a data set name among mnist, fashion_mnist, cifar10, cifar100, svhn, "
            "image_folder, synthetic. Received: name='mnistt'. Did you mean 'mnist'?",
        ),
        (
            "synthetic",
            {"mode": "real"},
            "Expected mode='auto' for the synthetic data set, which has no real files. "
            "Received: mode='real'",
        ),
    ],
)
def test_bad_arguments_are_explained(name: str, arguments: dict[str, Any], message: str) -> None:
    with pytest.raises(DatasetUsageError) as info:
        load(name, **arguments)
    assert isinstance(info.value, ValueError)
    assert str(info.value) == message
