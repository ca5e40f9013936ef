"""Baseline files: one JSON file per hardware key, versioned and written atomically.

Layout of ``<baseline_dir>/<key slug>.json`` (schema version 2)::

    {
      "schema_version": 2,
      "hardware": {"device_kind": "cpu", "device_model": "...", "device_count": 2,
                   "precision": "float32"},
      "entries": {
        "<node id>": {
          "model": "lenet5", "dataset": "mnist", "batch_size": 128, "data_source": "real",
          "epoch_seconds": {"center": 1.2, "spread": 0.03, "count": 3, "samples": [...]},
          "images_per_second": {"center": 8300.0, "spread": 150.0, "count": 3, "samples": [...]},
          "accuracy": 0.981,
          "tolerances": {"epoch_time": 0.25, "images_per_second": 0.25, "accuracy": 0.02},
          "software": {"python": "3.11.7", "tensorflow": "2.21.0", ...},
          "accepted_at": "2026-01-05T10:00:00+00:00", "accepted_by": "ana@build-3",
          "reason": "TensorFlow upgrade",
          "history": [{"epoch_seconds": 1.1, "images_per_second": 9000.0, "accuracy": 0.98,
                       "software": {...}, "accepted_at": "...", "accepted_by": "...",
                       "reason": null}]
        }
      }
    }

Version 1 stored each entry flat: ``epoch_seconds`` and ``images_per_second``
as single medians, no tolerances, reason or history. It is migrated forward
when read; a file from a newer pytest-cnnperf is refused and never rewritten.
Fields this version does not know are kept on rewrite and reported as a
warning, so that a newer tool's data survive an older tool's accept.
"""

from __future__ import annotations

import copy
import getpass
import json
import math
import os
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NoReturn

from pytest_cnnperf.atomicfile import write_text_atomically
from pytest_cnnperf.baselines.model import HardwareKey, Measurement, Software
from pytest_cnnperf.baselines.stats import SampleSummary
from pytest_cnnperf.baselines.tolerances import (
    ACCURACY,
    EPOCH_TIME,
    IMAGES_PER_SECOND,
    Tolerances,
)

SCHEMA_VERSION = 2
"""The layout this code reads and writes; older files are migrated to it."""

SIGNIFICANT_DIGITS = 6
"""Floats are stored with this many significant digits, for readable diffs."""

BASELINE_DIR_OPTION = "--cnnperf-baseline-dir"

_TOP_KEYS = frozenset({"schema_version", "hardware", "entries"})
_HARDWARE_KEYS = frozenset({"device_kind", "device_model", "device_count", "precision"})
_ENTRY_KEYS = frozenset(
    {
        "model",
        "dataset",
        "batch_size",
        "data_source",
        "epoch_seconds",
        "images_per_second",
        "accuracy",
        "tolerances",
        "software",
        "accepted_at",
        "accepted_by",
        "reason",
        "history",
    }
)
_STATS_KEYS = frozenset({"center", "spread", "count", "samples"})
_TOLERANCE_KEYS = frozenset({EPOCH_TIME, IMAGES_PER_SECOND, ACCURACY})
_HISTORY_KEYS = frozenset(
    {
        "epoch_seconds",
        "images_per_second",
        "accuracy",
        "software",
        "accepted_at",
        "accepted_by",
        "reason",
    }
)


# --------------------------------------------------------------------------- errors


class BaselineError(Exception):
    """A baseline file cannot be used; the message says which file and what to do."""


class BaselineCorrupt(BaselineError):
    """The file is not valid JSON or does not have the expected layout."""


class BaselineTooNew(BaselineError):
    """The file was written by a newer pytest-cnnperf with a newer schema."""


class BaselineHardwareMismatch(BaselineError):
    """The file holds baselines for other hardware than the key it was looked up for."""


class BaselineWriteError(BaselineError):
    """The file could not be written; the old file, if any, is unchanged.

    ``document`` holds the JSON text that was to be written, so that a caller
    can save or show it instead of losing the accepted figures.
    """

    def __init__(self, message: str, *, document: str) -> None:
        super().__init__(message)
        self.document = document


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class HistoryRecord:
    """An earlier accepted value of an entry (centers only)."""

    epoch_seconds: float
    images_per_second: float
    accuracy: float | None
    software: Software
    accepted_at: str
    accepted_by: str
    reason: str | None


@dataclass(frozen=True)
class BaselineEntry:
    """One test's accepted figures, as ``compare`` needs them."""

    node_id: str
    model: str
    dataset: str
    batch_size: int
    data_source: str
    epoch_seconds: SampleSummary
    images_per_second: SampleSummary
    accuracy: float | None
    tolerances: Tolerances | None
    software: Software
    accepted_at: str
    accepted_by: str
    reason: str | None
    history: tuple[HistoryRecord, ...] = ()


@dataclass(frozen=True)
class BaselineFile:
    """A loaded baseline file.

    ``schema_version_read`` is the version found on disk (older ones were
    migrated in memory); ``warnings`` are texts for the caller to show.
    """

    path: Path
    hardware: HardwareKey
    entries: Mapping[str, BaselineEntry]
    warnings: tuple[str, ...] = ()
    schema_version_read: int = SCHEMA_VERSION


@dataclass(frozen=True)
class Accepted:
    """Figures to store as a test's new baseline."""

    measurement: Measurement
    tolerances: Tolerances
    software: Software = field(default_factory=dict)


# --------------------------------------------------------------------------- paths


def baseline_path(directory: str | os.PathLike[str], key: HardwareKey) -> Path:
    """``<directory>/<key slug>.json``."""
    return Path(directory) / f"{key.slug()}.json"


def default_accepted_by() -> str:
    """``user@host`` of this process, for the ``accepted_by`` field."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError):
        # No login name in some containers: say so rather than guess.
        user = "unknown"
    return f"{user}@{socket.gethostname() or 'unknown'}"


# --------------------------------------------------------------------------- migrations


def migrate_1_to_2(document: dict[str, Any]) -> dict[str, Any]:
    """Version 1 kept single medians and no history; version 2 keeps statistics.

    Each flat ``epoch_seconds``/``images_per_second`` number becomes a
    statistics block of one sample (spread 0, count 1); ``tolerances`` and
    ``reason`` become null and ``history`` empty. Unknown fields are kept.
    """
    migrated = copy.deepcopy(document)
    entries = migrated.get("entries")
    if isinstance(entries, dict):
        for entry in entries.values():
            if not isinstance(entry, dict):
                continue
            for metric in ("epoch_seconds", "images_per_second"):
                value = entry.get(metric)
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    entry[metric] = {"center": value, "spread": 0.0, "count": 1, "samples": [value]}
            entry.setdefault("tolerances", None)
            entry.setdefault("reason", None)
            entry.setdefault("history", [])
    migrated["schema_version"] = 2
    return migrated


MIGRATIONS: Mapping[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: migrate_1_to_2}
"""``MIGRATIONS[n]`` turns a version-n document into a version-n+1 document."""


# --------------------------------------------------------------------------- reading


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a number JSON allows")


class _Reader:
    """Checks a decoded document field by field, naming the file and the field."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.unknown: list[str] = []

    def fail(self, where: str, expected: str, value: object) -> NoReturn:
        raise BaselineCorrupt(
            f"Expected {where} in {self.path} to be {expected}. Received: {where}={value!r}. "
            "Fix the file by hand, or restore it from version control; the file was not changed."
        )

    def note_unknown(self, where: str, value: Mapping[str, Any], known: frozenset[str]) -> None:
        self.unknown.extend(
            f"{where}.{name}" if where else name for name in value if name not in known
        )

    def mapping(self, where: str, value: object) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(where, "a JSON object", value)
        return value

    def text(self, where: str, value: object) -> str:
        if not isinstance(value, str):
            self.fail(where, "a string", value)
        return value

    def optional_text(self, where: str, value: object) -> str | None:
        return None if value is None else self.text(where, value)

    def integer(self, where: str, value: object, *, minimum: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            self.fail(where, f"a whole number of at least {minimum}", value)
        return value

    def positive(self, where: str, value: object) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            self.fail(where, "a number above 0", value)
        return float(value)

    def fraction(self, where: str, value: object) -> float | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            self.fail(where, "a number from 0 to 1, or null", value)
        return float(value)

    def software(self, where: str, value: object) -> dict[str, str]:
        software = self.mapping(where, value)
        for name, version in software.items():
            self.text(f"{where}.{name}", version)
        return dict(software)

    def statistics(self, where: str, value: object) -> SampleSummary:
        block = self.mapping(where, value)
        self.note_unknown(where, block, _STATS_KEYS)
        samples = block.get("samples")
        if not isinstance(samples, list) or not samples:
            self.fail(f"{where}.samples", "a non-empty list of numbers", samples)
        values = tuple(self.positive(f"{where}.samples[{i}]", x) for i, x in enumerate(samples))
        spread = block.get("spread")
        if isinstance(spread, bool) or not isinstance(spread, (int, float)) or spread < 0:
            self.fail(f"{where}.spread", "a number of at least 0", spread)
        return SampleSummary(
            center=self.positive(f"{where}.center", block.get("center")),
            spread=float(spread),
            count=self.integer(f"{where}.count", block.get("count"), minimum=1),
            samples=values,
        )

    def tolerances(self, where: str, value: object) -> Tolerances | None:
        if value is None:
            return None
        block = self.mapping(where, value)
        self.note_unknown(where, block, _TOLERANCE_KEYS)
        try:
            return Tolerances(
                epoch_time_rel=block[EPOCH_TIME],
                images_per_second_rel=block[IMAGES_PER_SECOND],
                accuracy_abs=block[ACCURACY],
            )
        except (KeyError, ValueError):
            self.fail(where, f"an object with valid {', '.join(sorted(_TOLERANCE_KEYS))}", value)

    def history(self, where: str, value: object) -> tuple[HistoryRecord, ...]:
        if not isinstance(value, list):
            self.fail(where, "a list", value)
        records = []
        for index, item in enumerate(value):
            at = f"{where}[{index}]"
            record = self.mapping(at, item)
            self.note_unknown(at, record, _HISTORY_KEYS)
            records.append(
                HistoryRecord(
                    epoch_seconds=self.positive(f"{at}.epoch_seconds", record.get("epoch_seconds")),
                    images_per_second=self.positive(
                        f"{at}.images_per_second", record.get("images_per_second")
                    ),
                    accuracy=self.fraction(f"{at}.accuracy", record.get("accuracy")),
                    software=self.software(f"{at}.software", record.get("software")),
                    accepted_at=self.text(f"{at}.accepted_at", record.get("accepted_at")),
                    accepted_by=self.text(f"{at}.accepted_by", record.get("accepted_by")),
                    reason=self.optional_text(f"{at}.reason", record.get("reason")),
                )
            )
        return tuple(records)

    def hardware(self, value: object) -> HardwareKey:
        block = self.mapping("hardware", value)
        self.note_unknown("hardware", block, _HARDWARE_KEYS)
        try:
            return HardwareKey(
                device_kind=block.get("device_kind"),  # type: ignore[arg-type]
                device_model=self.text("hardware.device_model", block.get("device_model")),
                device_count=block.get("device_count"),  # type: ignore[arg-type]
                precision=self.text("hardware.precision", block.get("precision")),
            )
        except ValueError as error:
            self.fail("hardware", f"a valid hardware block ({error})", value)

    def entry(self, node_id: str, value: object) -> BaselineEntry:
        where = f"entries[{node_id!r}]"
        raw = self.mapping(where, value)
        self.note_unknown(where, raw, _ENTRY_KEYS)
        return BaselineEntry(
            node_id=node_id,
            model=self.text(f"{where}.model", raw.get("model")),
            dataset=self.text(f"{where}.dataset", raw.get("dataset")),
            batch_size=self.integer(f"{where}.batch_size", raw.get("batch_size"), minimum=1),
            data_source=self.text(f"{where}.data_source", raw.get("data_source")),
            epoch_seconds=self.statistics(f"{where}.epoch_seconds", raw.get("epoch_seconds")),
            images_per_second=self.statistics(
                f"{where}.images_per_second", raw.get("images_per_second")
            ),
            accuracy=self.fraction(f"{where}.accuracy", raw.get("accuracy")),
            tolerances=self.tolerances(f"{where}.tolerances", raw.get("tolerances")),
            software=self.software(f"{where}.software", raw.get("software")),
            accepted_at=self.text(f"{where}.accepted_at", raw.get("accepted_at")),
            accepted_by=self.text(f"{where}.accepted_by", raw.get("accepted_by")),
            reason=self.optional_text(f"{where}.reason", raw.get("reason")),
            history=self.history(f"{where}.history", raw.get("history", [])),
        )


def _read_document(path: Path) -> tuple[dict[str, Any], int] | None:
    """Decode, version-check and migrate; return the version-2 document and the version read."""
    try:
        text = path.read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (OSError, UnicodeDecodeError) as error:
        raise BaselineCorrupt(
            f"Could not read the baseline file {path}: {error}. "
            "Check its permissions and encoding (UTF-8 JSON is expected)."
        ) from error
    try:
        document = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as error:
        raise BaselineCorrupt(
            f"The baseline file {path} is not valid JSON: {error.msg} at line {error.lineno}, "
            f"column {error.colno}. Fix the file by hand or restore it from version control; "
            "the file was not changed."
        ) from error
    except ValueError as error:
        raise BaselineCorrupt(
            f"The baseline file {path} is not valid JSON: {error}. Fix the file by hand or "
            "restore it from version control; the file was not changed."
        ) from error
    reader = _Reader(path)
    document = reader.mapping("the top level", document)
    version = document.get("schema_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        reader.fail("schema_version", "a whole number of at least 1", version)
    if version > SCHEMA_VERSION:
        raise BaselineTooNew(
            f"The baseline file {path} has schema_version {version}, but this pytest-cnnperf "
            f"reads schema versions up to {SCHEMA_VERSION}. Upgrade pytest-cnnperf to use it; "
            "the file was not changed."
        )
    read = version
    while version < SCHEMA_VERSION:
        document = MIGRATIONS[version](document)
        version += 1
    return document, read


def _build_file(
    path: Path, key: HardwareKey, document: dict[str, Any], version_read: int
) -> BaselineFile:
    reader = _Reader(path)
    reader.note_unknown("", document, _TOP_KEYS)
    stored = reader.hardware(document.get("hardware"))
    if stored != key:
        raise BaselineHardwareMismatch(
            f"Expected the baseline file {path} to hold baselines for {key.describe()}. "
            f"Received: hardware={stored.describe()}. The file was probably copied or renamed "
            "from another machine: give it the name of its own hardware key, or move it out "
            "of the baseline directory to record new baselines here."
        )
    entries_raw = reader.mapping("entries", document.get("entries"))
    entries = {node_id: reader.entry(node_id, raw) for node_id, raw in entries_raw.items()}
    warnings: list[str] = []
    if version_read < SCHEMA_VERSION:
        warnings.append(
            f"The baseline file {path} uses schema version {version_read}; it was read as "
            f"version {SCHEMA_VERSION} and will be written as version {SCHEMA_VERSION} when "
            "figures are next accepted."
        )
    if reader.unknown:
        warnings.append(
            f"The baseline file {path} has fields this version of pytest-cnnperf does not "
            f"know: {', '.join(reader.unknown)}. They are kept unchanged when the file is "
            "rewritten."
        )
    return BaselineFile(
        path=path,
        hardware=stored,
        entries=entries,
        warnings=tuple(warnings),
        schema_version_read=version_read,
    )


def load_baselines(path: str | os.PathLike[str], key: HardwareKey) -> BaselineFile | None:
    """Load the baselines in ``path`` for ``key``; None if there is no such file.

    Raises:
        BaselineCorrupt: invalid JSON (with line and column) or a field of the
            wrong type (with its place in the file).
        BaselineTooNew: a schema version newer than ``SCHEMA_VERSION``.
        BaselineHardwareMismatch: the file holds another key's baselines.
    """
    file_path = Path(path)
    read = _read_document(file_path)
    if read is None:
        return None
    document, version_read = read
    return _build_file(file_path, key, document, version_read)


# --------------------------------------------------------------------------- writing


def _rounded(value: Any) -> Any:
    """``value`` with every float rounded to ``SIGNIFICANT_DIGITS`` significant digits."""
    if isinstance(value, float):
        return float(f"{value:.{SIGNIFICANT_DIGITS}g}") if math.isfinite(value) else value
    if isinstance(value, dict):
        return {name: _rounded(item) for name, item in value.items()}
    if isinstance(value, list):
        return [_rounded(item) for item in value]
    return value


def serialize(document: Mapping[str, Any]) -> str:
    """The stored text: rounded floats, ``indent=2``, sorted keys, final newline."""
    return json.dumps(_rounded(document), indent=2, sort_keys=True, allow_nan=False) + "\n"


def _statistics_block(samples: Sequence[float]) -> dict[str, Any]:
    summary = SampleSummary.of(samples)
    return {
        "center": summary.center,
        "spread": summary.spread,
        "count": summary.count,
        "samples": list(summary.samples),
    }


def _history_record(raw_entry: Mapping[str, Any]) -> dict[str, Any]:
    """The centers and provenance of a stored (version-2) entry, for its history."""
    return {
        "epoch_seconds": raw_entry["epoch_seconds"]["center"],
        "images_per_second": raw_entry["images_per_second"]["center"],
        "accuracy": raw_entry.get("accuracy"),
        "software": raw_entry.get("software", {}),
        "accepted_at": raw_entry.get("accepted_at"),
        "accepted_by": raw_entry.get("accepted_by"),
        "reason": raw_entry.get("reason"),
    }


def _write_error(path: Path, error: OSError, document: str) -> BaselineWriteError:
    reason = error.strerror or str(error)
    return BaselineWriteError(
        f"Could not write the baseline file {path}: {reason}. Expected the directory "
        f"{path.parent} to be writable. Pass {BASELINE_DIR_OPTION} with a writable directory, "
        f"or fix the permissions, and accept again; {path} was left unchanged.",
        document=document,
    )


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (see ``pytest_cnnperf.atomicfile``).

    Raises:
        BaselineWriteError: the directory or file could not be written.
    """
    try:
        write_text_atomically(path, text)
    except OSError as error:
        raise _write_error(path, error, text) from error


def update_baselines(
    path: str | os.PathLike[str],
    key: HardwareKey,
    accepted: Sequence[Accepted],
    *,
    reason: str | None,
    who: str,
    now: datetime,
) -> BaselineFile:
    """Store ``accepted`` figures as the new baselines in ``path``.

    An entry's previous values move to its ``history``; entries not in
    ``accepted`` are kept unchanged, and so are fields this version does not
    know. The file is created if missing and written atomically.

    Args:
        path: the baseline file, usually ``baseline_path(directory, key)``.
        key: the hardware the figures were measured on.
        accepted: the figures to store, one per node id.
        reason: why they were accepted (e.g. "TensorFlow 2.21 upgrade"), or None.
        who: ``user@host`` (see ``default_accepted_by``).
        now: time of acceptance; stored in UTC to the second.

    Returns:
        The file as now stored.

    Raises:
        ValueError: a node id appears twice in ``accepted``.
        BaselineError: the existing file cannot be used (see
            ``load_baselines``) or the new one cannot be written; in both
            cases the file on disk is unchanged.
    """
    file_path = Path(path)
    node_ids = [item.measurement.node_id for item in accepted]
    duplicates = sorted({n for n in node_ids if node_ids.count(n) > 1})
    if duplicates:
        raise ValueError(
            "Expected each node id at most once in the accepted figures. "
            f"Received: node_id={duplicates[0]!r} {node_ids.count(duplicates[0])} times"
        )
    read = _read_document(file_path)
    if read is None:
        document: dict[str, Any] = {"entries": {}}
    else:
        document = read[0]
        # Validates types and the hardware block before anything is changed.
        _build_file(file_path, key, document, read[1])
    document["schema_version"] = SCHEMA_VERSION
    document["hardware"] = {
        **document.get("hardware", {}),
        "device_kind": key.device_kind,
        "device_model": key.device_model,
        "device_count": key.device_count,
        "precision": key.precision,
    }
    accepted_at = now.astimezone(timezone.utc).isoformat(timespec="seconds")
    entries: dict[str, Any] = document["entries"]
    for item in accepted:
        measurement = item.measurement
        previous = entries.get(measurement.node_id)
        history = list(previous.get("history", [])) if previous else []
        if previous:
            history.append(_history_record(previous))
        entries[measurement.node_id] = {
            **(previous or {}),
            "model": measurement.model,
            "dataset": measurement.dataset,
            "batch_size": measurement.batch_size,
            "data_source": measurement.data_source,
            "epoch_seconds": _statistics_block(measurement.epoch_seconds),
            "images_per_second": _statistics_block(measurement.images_per_second),
            "accuracy": measurement.accuracy,
            "tolerances": item.tolerances.to_dict(),
            "software": dict(sorted(item.software.items())),
            "accepted_at": accepted_at,
            "accepted_by": who,
            "reason": reason,
            "history": history,
        }
    text = serialize(document)
    write_atomically(file_path, text)
    return _build_file(file_path, key, json.loads(text), SCHEMA_VERSION)
