"""What every data-set reader provides to `load`.

A `Source` knows one distributed format: which files make a complete copy in a
directory (`probe`), how to read them (`read`), what to tell a user who has
none (`files_help`), and the shapes synthetic stand-in data must have.
Readers return labels eagerly and images through `Part.take`, so that a
subset of an image folder decodes only the images it keeps.
"""

from __future__ import annotations

import abc
import difflib
import gzip
import zlib
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np

from pytest_cnnperf.datasets.core import Array, DatasetCorrupt, DatasetUsageError

Split = Literal["standard", "test"]
Options = Mapping[str, object]

_GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class Located:
    """A complete set of files for one data set, found in `directory`."""

    directory: Path
    files: tuple[Path, ...]
    layout: str
    #: Class names in label order, for formats that name classes by folder.
    classes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Part:
    """Labels of one split, and a way to get the images at some indices."""

    labels: Array
    take: Callable[[Array | None], Array]

    @classmethod
    def of(cls, images: Array, labels: Array) -> Part:
        """A part backed by in-memory arrays; `take(None)` returns them uncopied."""

        def take(indices: Array | None) -> Array:
            return images if indices is None else images[indices]

        return cls(labels=labels.astype(np.int64, copy=False), take=take)


@dataclass(frozen=True)
class Raw:
    """A data set as read: the train part is None when only test files were read."""

    train: Part | None
    test: Part
    num_classes: int
    origin: str
    steps: tuple[str, ...]


class Source(abc.ABC):
    """One data set in its distributed formats."""

    #: The name `load` accepts.
    name: ClassVar[str]
    #: How documents and messages spell it ("MNIST", "CIFAR-10").
    title: ClassVar[str]
    #: Folders the Keras cache (or an unpacked download) uses, relative to a base.
    keras_subdirs: ClassVar[tuple[str, ...]] = ()
    #: Name of the `keras.datasets` module that downloads it, if any.
    keras_module: ClassVar[str | None] = None
    #: Options this data set accepts, with their defaults.
    defaults: ClassVar[Mapping[str, object]] = {}

    def fixed_place(self, options: Options) -> Path | None:
        """A directory an option names, searched instead of the usual places."""
        return None

    def options(self, given: Options, common: Collection[str] = ()) -> dict[str, object]:
        """Validate `given` against `defaults`; return all options with defaults filled.

        `common` names the options every data set takes, which `load` handles
        itself (`split`): they are never in `given`, but the message for an
        unknown option lists them among the accepted ones.
        """
        unknown = sorted(set(given) - set(self.defaults))
        if unknown:
            known = sorted({*self.defaults, *common})
            received = ", ".join(f"{key}={given[key]!r}" for key in unknown)
            hint = did_you_mean(unknown, known)
            raise DatasetUsageError(
                f"Expected only the options {self.name!r} accepts ({', '.join(known) or 'none'}). "
                f"Received: {received}" + (f".{hint}" if hint else "")
            )
        merged = dict(self.defaults)
        merged.update(given)
        return self.check_options(merged)

    def check_options(self, options: dict[str, object]) -> dict[str, object]:
        """Validate and normalize option values; the default accepts anything."""
        return options

    @abc.abstractmethod
    def input_shape(self, options: Options) -> tuple[int, int, int]:
        """Image shape as distributed (or as decoded, for image folders)."""

    @abc.abstractmethod
    def num_classes(self, options: Options) -> int:
        """Number of classes."""

    @abc.abstractmethod
    def nominal_sizes(self, options: Options) -> tuple[int, int]:
        """Train and test sizes of the distributed data set."""

    @abc.abstractmethod
    def probe(self, directory: Path, split: Split, options: Options) -> Located | str:
        """The complete set of files in `directory`, or a note on what is missing."""

    @abc.abstractmethod
    def read(self, located: Located, split: Split, options: Options, seed: int) -> Raw:
        """Read the files `probe` found."""

    @abc.abstractmethod
    def files_help(self, split: Split, options: Options) -> str:
        """Which files make the data set, as a phrase for error messages."""

    def download(self, options: Options) -> Raw:
        """Fetch the data set through `keras.datasets` (only called when not offline)."""
        raise NotImplementedError(f"{self.title} cannot be downloaded through keras.datasets.")


def first_existing(directory: Path, names: tuple[str, ...]) -> Path | None:
    """The first of `names` that is a file in `directory`."""
    for name in names:
        candidate = directory / name
        if candidate.is_file():
            return candidate
    return None


def read_maybe_gzip(path: Path) -> bytes:
    """Bytes of `path`, decompressed if it starts with the gzip magic number."""
    try:
        with path.open("rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise DatasetCorrupt(f"Could not read {path}: {exc}.") from None
    if not data.startswith(_GZIP_MAGIC):
        return data
    try:
        return gzip.decompress(data)
    except (EOFError, OSError, zlib.error) as exc:
        raise DatasetCorrupt(
            f"{path} is not a complete gzip file ({exc}). Expected the file as "
            "distributed; replace it with a fresh copy."
        ) from None


def check_labels(path: Path | str, labels: Array, num_classes: int) -> Array:
    """Labels as int64, or DatasetCorrupt if any lies outside 0..num_classes-1."""
    labels = np.asarray(labels).reshape(-1)
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        bad = labels[(labels < 0) | (labels >= num_classes)][0]
        raise DatasetCorrupt(
            f"{path} holds label {int(bad)}. Expected class ids 0..{num_classes - 1}; "
            "replace the file with a fresh copy."
        )
    return labels.astype(np.int64)


def did_you_mean(given: Sequence[str], known: Collection[str]) -> str:
    """ " Did you mean 'x'?" for the close matches of the unknown names `given`, or ""."""
    pairs = []
    for name in given:
        close = difflib.get_close_matches(name, list(known), n=1)
        if close:
            pairs.append((name, close[0]))
    if not pairs:
        return ""
    if len(given) == 1:
        return f" Did you mean {pairs[0][1]!r}?"
    return " Did you mean " + ", ".join(f"{match!r} for {name}" for name, match in pairs) + "?"


def plural(count: int, noun: str) -> str:
    """`count` followed by `noun`, pluralized with an s when needed."""
    return f"{count:,} {noun}" if count == 1 else f"{count:,} {noun}s"
