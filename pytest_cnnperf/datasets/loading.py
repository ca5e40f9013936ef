"""`load`: find a data set's files, read them, subset them, or stand in for them."""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Literal

import numpy as np

from pytest_cnnperf.datasets.cifar import Cifar10Source, Cifar100Source
from pytest_cnnperf.datasets.core import (
    Dataset,
    DatasetError,
    DatasetNotFound,
    DatasetUsageError,
    freeze,
)
from pytest_cnnperf.datasets.idx import FashionMnistSource, MnistSource
from pytest_cnnperf.datasets.image_folder import ImageFolderSource
from pytest_cnnperf.datasets.search import ENV_VARIABLE, Place, keras_cache_dir, search_places
from pytest_cnnperf.datasets.source import Located, Raw, Source, Split, did_you_mean, plural
from pytest_cnnperf.datasets.subsets import stratified_split, stratified_subset
from pytest_cnnperf.datasets.svhn import SvhnSource
from pytest_cnnperf.datasets.synthetic import SyntheticSource, synthetic_raw

_SOURCES: dict[str, Source] = {
    source.name: source
    for source in (
        MnistSource(),
        FashionMnistSource(),
        Cifar10Source(),
        Cifar100Source(),
        SvhnSource(),
        ImageFolderSource(),
        SyntheticSource(),
    )
}
#: Share of the distributed test split held out for testing with split="test".
TEST_SHARE = 0.2
# Loaded data sets are kept for the session; a few suffice for a test run.
_CACHE_ENTRIES = 8
_cache: OrderedDict[Hashable, Dataset] = OrderedDict()


def names() -> tuple[str, ...]:
    """Names `load` accepts, real data sets first, then `"synthetic"`."""
    return tuple(_SOURCES)


def clear_cache() -> None:
    """Forget every data set `load` has kept in memory."""
    _cache.clear()


def load(
    name: str,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    train_size: int | None = None,
    test_size: int | None = None,
    seed: int = 0,
    mode: Literal["auto", "real"] = "auto",
    offline: bool = True,
    split: Literal["standard", "test"] = "standard",
    **options: object,
) -> Dataset:
    """Load data set `name` as uint8 NHWC images and int64 labels.

    Files are looked for under `data_dir`, then `$CNNPERF_DATA_DIR`, then the
    Keras cache (see `pytest_cnnperf.datasets.search`). When none are found,
    `mode="auto"` returns synthetic data of the same shapes, class count and
    sizes (with `fallback_reason` set), and `mode="real"` raises. A damaged
    file always raises. Results are cached in-process by all arguments and
    the files' sizes and modification times.

    Args:
        name: One of `names()`.
        data_dir: Directory to search first.
        train_size: Images in the train subset; None keeps the whole train split
            (with `split="test"`, what the test subset leaves).
        test_size: Images in the test subset; None keeps the whole test split
            (with `split="test"`, 20% of it).
        seed: Seeds subset selection and synthetic data.
        mode: `"auto"` falls back to synthetic data; `"real"` requires files.
        offline: When False, a data set missing locally is downloaded through
            `keras.datasets` (mnist, fashion_mnist, cifar10, cifar100).
        split: `"standard"` uses the distributed train and test splits;
            `"test"` carves both subsets out of the distributed test split, so
            that only the test files are needed.
        **options: Per data set: `label_mode` ("fine"/"coarse", cifar100);
            `include_extra` (svhn); `image_size`, `channels`, `val_fraction`,
            `root`, `num_classes` (image_folder); `input_shape`, `num_classes`
            (synthetic).

    Returns:
        A `Dataset` with read-only arrays.

    Raises:
        DatasetNotFound: With `mode="real"`, when no files were found.
        DatasetCorrupt: When a file was found but cannot be read.
        DatasetError: For sizes larger than the data, or a missing scipy (svhn).
        DatasetUsageError: For an unknown name, option or argument value
            (also a ValueError).
    """
    source = _SOURCES.get(name)
    if source is None:
        hint = did_you_mean([name], names()) if isinstance(name, str) else ""
        raise DatasetUsageError(
            f"Expected a data set name among {', '.join(names())}. Received: name={name!r}"
            + (f".{hint}" if hint else "")
        )
    _check_arguments(train_size, test_size, seed, mode, offline, split)
    opts = source.options(options, common=("split",))
    sizes = (train_size, test_size)
    option_key = tuple(sorted((key, repr(value)) for key, value in opts.items()))
    call_key: tuple[Hashable, ...] = (name, option_key, sizes, seed, split)

    if isinstance(source, SyntheticSource):
        if mode == "real":
            raise DatasetUsageError(
                "Expected mode='auto' for the synthetic data set, which has no real files. "
                f"Received: mode={mode!r}"
            )
        return _synthetic(source, opts, sizes, seed, split, name, None, call_key)

    fixed = source.fixed_place(opts)
    if fixed is not None:
        places = [Place(fixed, "root option")]
    else:
        places = search_places(name, source.keras_subdirs, data_dir)
    notes: list[tuple[Place, str]] = []
    for place in places:
        probed = source.probe(place.path, split, opts)
        if isinstance(probed, Located):
            return _read_located(source, probed, opts, sizes, seed, split, name, call_key)
        notes.append((place, probed))

    download_note = None
    if not offline and source.keras_module is not None:
        try:
            raw = source.download(opts)
        # A download fails in many ways (network, proxy, disk, checksum); each one
        # means "not available", reported below.
        except Exception as exc:
            download_note = (
                f"Downloading through keras.datasets.{source.keras_module}.load_data() "
                f"failed: {type(exc).__name__}: {exc}"
            )
        else:
            return _cached(
                (*call_key, "download"),
                lambda: _assemble(name, raw, sizes, seed, split, "real", None),
            )

    if mode == "real":
        raise DatasetNotFound(
            _not_found_message(source, opts, split, notes, download_note, offline, mode)
        )
    reason = _fallback_reason(source, notes, download_note)
    return _synthetic(source, opts, sizes, seed, split, name, reason, call_key)


def _read_located(
    source: Source,
    located: Located,
    opts: dict[str, object],
    sizes: tuple[int | None, int | None],
    seed: int,
    split: Split,
    name: str,
    call_key: tuple[Hashable, ...],
) -> Dataset:
    def build() -> Dataset:
        raw = source.read(located, split, opts, seed)
        return _assemble(name, raw, sizes, seed, split, "real", None)

    return _cached((*call_key, "files", _file_identity(located)), build)


def _check_arguments(
    train_size: object,
    test_size: object,
    seed: object,
    mode: object,
    offline: object,
    split: object,
) -> None:
    for label, value in (("train_size", train_size), ("test_size", test_size)):
        if value is not None and (
            not isinstance(value, int) or isinstance(value, bool) or value < 1
        ):
            raise DatasetUsageError(
                f"Expected {label} to be a positive int or None. Received: {label}={value!r}"
            )
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise DatasetUsageError(f"Expected seed to be a non-negative int. Received: seed={seed!r}")
    if mode not in ("auto", "real"):
        raise DatasetUsageError(f"Expected mode to be 'auto' or 'real'. Received: mode={mode!r}")
    if not isinstance(offline, bool):
        raise DatasetUsageError(
            f"Expected offline to be True or False. Received: offline={offline!r}"
        )
    if split not in ("standard", "test"):
        raise DatasetUsageError(
            f"Expected split to be 'standard' or 'test'. Received: split={split!r}"
        )


def _file_identity(located: Located) -> tuple[Hashable, ...]:
    # Size and modification time make a rewritten file a different cache entry.
    identity = []
    for path in located.files:
        stat = path.stat()
        identity.append((str(path), stat.st_size, stat.st_mtime_ns))
    return tuple(identity)


def _cached(key: Hashable, build: Callable[[], Dataset]) -> Dataset:
    if key in _cache:
        _cache.move_to_end(key)
        return _cache[key]
    dataset = build()
    _cache[key] = dataset
    while len(_cache) > _CACHE_ENTRIES:
        _cache.popitem(last=False)
    return dataset


def resolve_sizes(
    available: tuple[int, int],
    train_size: int | None,
    test_size: int | None,
    split: Split,
    title: str,
) -> tuple[int, int]:
    """Train and test subset sizes for the available train and test counts.

    With `split="test"` both come out of `available[1]`: None sizes default to
    an 80/20 division of it (or to what the other size leaves).
    """
    if split == "standard":
        resolved = []
        for label, wanted, count, part in (
            ("train_size", train_size, available[0], "train"),
            ("test_size", test_size, available[1], "test"),
        ):
            if wanted is not None and wanted > count:
                raise DatasetError(
                    f"Expected {label} <= {count:,}, the number of images in the {title} "
                    f"{part} split. Received: {label}={wanted}"
                )
            resolved.append(count if wanted is None else wanted)
        return (resolved[0], resolved[1])
    pool = available[1]
    if train_size is None and test_size is None:
        test_size = max(1, round(TEST_SHARE * pool))
    n_test = pool - (train_size or 0) if test_size is None else test_size
    n_train = pool - n_test if train_size is None else train_size
    if n_train < 1 or n_test < 1 or n_train + n_test > pool:
        raise DatasetError(
            f"Expected train_size + test_size <= {pool:,}, the number of images in the "
            f"{title} test split that split='test' carves both subsets from, with at least "
            f"one image in each. Received: train_size={train_size}, test_size={test_size}"
        )
    return (n_train, n_test)


def _assemble(
    name: str,
    raw: Raw,
    sizes: tuple[int | None, int | None],
    seed: int,
    split: Split,
    kind: Literal["real", "synthetic"],
    fallback_reason: str | None,
) -> Dataset:
    title = _SOURCES[name].title
    steps = list(raw.steps)
    if split == "standard":
        assert raw.train is not None  # readers return it for split='standard'
        counts = (len(raw.train.labels), len(raw.test.labels))
        n_train, n_test = resolve_sizes(counts, *sizes, split, title)
        train_idx = test_idx = None
        if n_train < counts[0]:
            train_idx = stratified_subset(
                raw.train.labels, n_train, np.random.default_rng([seed, 1])
            )
        if n_test < counts[1]:
            test_idx = stratified_subset(raw.test.labels, n_test, np.random.default_rng([seed, 2]))
        if train_idx is not None or test_idx is not None:
            steps.append(
                f"stratified subset {n_train}/{n_test} of {counts[0]}/{counts[1]} (seed {seed})"
            )
        train_part = raw.train
    else:
        pool = len(raw.test.labels)
        n_train, n_test = resolve_sizes((0, pool), *sizes, split, title)
        train_idx, test_idx = stratified_split(
            raw.test.labels, (n_train, n_test), np.random.default_rng([seed, 3])
        )
        steps.append(
            f"train {n_train} and test {n_test} carved from the {pool}-image test split, "
            f"stratified (seed {seed})"
        )
        train_part = raw.test
    x_train = train_part.take(train_idx)
    y_train = train_part.labels if train_idx is None else train_part.labels[train_idx]
    x_test = raw.test.take(test_idx)
    y_test = raw.test.labels if test_idx is None else raw.test.labels[test_idx]
    shape = x_train.shape[1:]
    return Dataset(
        name=name,
        x_train=freeze(x_train),
        y_train=freeze(np.asarray(y_train, dtype=np.int64)),
        x_test=freeze(x_test),
        y_test=freeze(np.asarray(y_test, dtype=np.int64)),
        num_classes=raw.num_classes,
        input_shape=(int(shape[0]), int(shape[1]), int(shape[2])),
        source=kind,
        origin=raw.origin,
        preprocessing=tuple(steps),
        fallback_reason=fallback_reason,
    )


def _synthetic(
    source: Source,
    opts: dict[str, object],
    sizes: tuple[int | None, int | None],
    seed: int,
    split: Split,
    name: str,
    reason: str | None,
    call_key: tuple[Hashable, ...],
) -> Dataset:
    # Sizes are checked against the real data set's, so that a size real data
    # would refuse is refused with synthetic data too.
    n_train, n_test = resolve_sizes(source.nominal_sizes(opts), *sizes, split, source.title)
    shape, classes = source.input_shape(opts), source.num_classes(opts)
    return _cached(
        (*call_key, "synthetic", reason),
        lambda: _assemble(
            name,
            synthetic_raw(shape, classes, (n_train, n_test), seed),
            (None, None),
            seed,
            "standard",
            "synthetic",
            reason,
        ),
    )


def _not_found_message(
    source: Source,
    opts: dict[str, object],
    split: Split,
    notes: list[tuple[Place, str]],
    download_note: str | None,
    offline: bool,
    mode: str,
) -> str:
    lines = [f"Could not find the {source.title} files. Looked in:"]
    lines += [f"  - {place.path} ({place.via}): {note}" for place, note in notes]
    if download_note is not None:
        lines.append(download_note + ".")
    lines.append(
        f"Expected {source.files_help(split, opts)}, in DIR/{source.name}/ or DIR/ where DIR "
        f"is passed with --cnnperf-data-dir DIR (ini: cnnperf_data_dir) or the {ENV_VARIABLE} "
        f"environment variable, or in the Keras cache {keras_cache_dir()}."
    )
    if offline and source.keras_module is not None:
        lines.append(
            f"No download was attempted (offline=True); with offline=False the files "
            f"are fetched through keras.datasets.{source.keras_module}.load_data()."
        )
    if mode == "real":
        lines.append("With mode='auto' synthetic data of the same shapes would stand in instead.")
    lines.append(f"Received: name={source.name!r}, mode={mode!r}, split={split!r}")
    return "\n".join(lines)


def _fallback_reason(
    source: Source, notes: list[tuple[Place, str]], download_note: str | None
) -> str:
    where = ", ".join(str(place.path) for place, _ in notes)
    reason = f"no {source.title} files found (looked in {plural(len(notes), 'place')}: {where})"
    if download_note is not None:
        reason += f"; {download_note[0].lower()}{download_note[1:]}"
    return reason + "; synthetic data of the same shapes, classes and sizes stand in"
