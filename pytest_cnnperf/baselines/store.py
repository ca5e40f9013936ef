"""Baseline files: one JSON file per hardware key, versioned and written atomically.

Layout of ``<baseline_dir>/<key slug>.json`` (schema version 3)::

    {
      "schema_version": 3,
      "hardware": {"device_kind": "cpu", "device_model": "...", "device_count": 2,
                   "precision": "float32"},   # and "backend": "jax" or "torch"
      "entries": {
        "<node id>": {
          "model": "lenet5", "dataset": "mnist", "batch_size": 128, "data_source": "real",
          "metrics": {
            "epoch_seconds": {"center": 1.2, "spread": 0.03, "count": 3, "samples": [...]},
            "accuracy": {"center": 0.981, "spread": 0.0, "count": 1, "samples": [0.981]}
          },
          "tolerances": {"epoch_seconds": 0.25, "accuracy": 0.02},
          "software": {"python": "3.11.7", "tensorflow": "2.21.0", ...},
          "accepted_at": "2026-01-05T10:00:00+00:00", "accepted_by": "ana@build-3",
          "reason": "TensorFlow upgrade",
          "history": [{"metrics": {"epoch_seconds": 1.1, "accuracy": 0.98},
                       "software": {...}, "accepted_at": "...", "accepted_by": "...",
                       "reason": null}]
        }
      }
    }

The metric blocks are those of the registry (``pytest_cnnperf.metrics``): a
new metric needs no change here. ``tolerances`` records what each test was
judged with when it was accepted, for review; verdicts use the tolerances in
force at run time.

Version 1 stored each entry flat, version 2 had fixed ``epoch_seconds``,
``images_per_second`` and ``accuracy`` fields; both are migrated forward when
read, and a file from a newer pytest-cnnperf is refused and never rewritten.
Fields this version does not know (a metric it has no declaration for, a
tolerance of one, a field added by hand) are kept on rewrite and reported as
a warning, so that a newer tool's data survive an older tool's accept.
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
from typing import Any

from pytest_cnnperf.atomicfile import update_text_locked
from pytest_cnnperf.baselines.model import (
    DATA_SOURCES,
    DataSource,
    Figures,
    HardwareKey,
    Provenance,
    Software,
)
from pytest_cnnperf.baselines.stats import SampleSummary
from pytest_cnnperf.baselines.tolerances import Tolerances
from pytest_cnnperf.fieldcheck import FieldChecker, loads
from pytest_cnnperf.metrics import MetricRegistry

SCHEMA_VERSION = 4
"""The layout this code reads and writes; older files are migrated to it."""

SIGNIFICANT_DIGITS = 6
"""Floats are stored with this many significant digits, for readable diffs."""

BASELINE_DIR_OPTION = "--cnnperf-baseline-dir"

_TOP_KEYS = frozenset({"schema_version", "hardware", "entries"})
_HARDWARE_KEYS = frozenset({"device_kind", "device_model", "device_count", "precision", "backend"})
_ENTRY_KEYS = frozenset(
    {
        "model",
        "dataset",
        "batch_size",
        "data_source",
        "metrics",
        "tolerances",
        "software",
        "accepted_at",
        "accepted_by",
        "reason",
        "history",
        "timing",
        "superseded",
    }
)
_STATS_KEYS = frozenset({"center", "spread", "count", "samples"})
_HISTORY_KEYS = frozenset({"metrics", "software", "accepted_at", "accepted_by", "reason"})


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
    """An earlier accepted value of an entry: each metric's center and the provenance."""

    centers: Mapping[str, float]
    software: Software
    provenance: Provenance


@dataclass(frozen=True)
class BaselineEntry:
    """One test's accepted figures, as ``compare`` needs them."""

    figures: Figures
    software: Software
    provenance: Provenance
    history: tuple[HistoryRecord, ...] = ()

    @property
    def node_id(self) -> str:
        return self.figures.node_id


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
    """Figures to store as a test's new baseline, with the tolerances they were judged by."""

    figures: Figures
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


def _one_sample(value: object) -> object:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return {"center": value, "spread": 0.0, "count": 1, "samples": [value]}
    return value


def migrate_2_to_3(document: dict[str, Any]) -> dict[str, Any]:
    """Version 2 had fixed metric fields; version 3 keeps a ``metrics`` block per entry.

    ``epoch_seconds`` moves into ``metrics``; ``accuracy`` becomes a
    one-sample block there (null: no block); ``images_per_second`` is
    dropped, because it is derived from epoch time and no longer judged. The
    tolerance names ``epoch_time``/``images_per_second`` become
    ``epoch_seconds`` (the first wins: both meant "up to t slower"). History
    records keep their centers under ``metrics`` the same way. Unknown
    fields are kept.
    """
    migrated = copy.deepcopy(document)
    entries = migrated.get("entries")
    for entry in entries.values() if isinstance(entries, dict) else ():
        if not isinstance(entry, dict):
            continue
        metrics: dict[str, object] = {}
        if "epoch_seconds" in entry:
            metrics["epoch_seconds"] = entry.pop("epoch_seconds")
        entry.pop("images_per_second", None)
        accuracy = entry.pop("accuracy", None)
        if accuracy is not None:
            metrics["accuracy"] = _one_sample(accuracy)
        entry["metrics"] = metrics
        tolerances = entry.get("tolerances")
        if isinstance(tolerances, dict):
            time_limit = tolerances.pop("epoch_time", None)
            rate_limit = tolerances.pop("images_per_second", None)
            limit = time_limit if time_limit is not None else rate_limit
            if limit is not None:
                tolerances["epoch_seconds"] = limit
        history = entry.get("history")
        for record in history if isinstance(history, list) else ():
            if isinstance(record, dict):
                centers = {
                    name: record.pop(name)
                    for name in ("epoch_seconds", "accuracy")
                    if record.get(name) is not None
                }
                record.pop("images_per_second", None)
                record.pop("accuracy", None)
                record["metrics"] = centers
    migrated["schema_version"] = 3
    return migrated


def migrate_3_to_4(document: dict[str, Any]) -> dict[str, Any]:
    """Version 4 judges a calibrated step time per run (``step_time``) with raw ``timing``.

    A version-3 ``epoch_seconds`` block holds per-epoch wall times measured
    without windows or the reference kernel: they cannot be compared with
    calibrated step times, so the block moves to ``superseded`` (kept for
    review, never judged) and such an entry compares as ``new`` until it is
    accepted again. Its ``epoch_seconds`` tolerance moves with it. History
    records are kept as they are.
    """
    migrated = copy.deepcopy(document)
    entries = migrated.get("entries")
    for entry in entries.values() if isinstance(entries, dict) else ():
        if not isinstance(entry, dict):
            continue
        metrics = entry.get("metrics")
        if isinstance(metrics, dict) and "epoch_seconds" in metrics:
            superseded: dict[str, Any] = {"epoch_seconds": metrics.pop("epoch_seconds")}
            tolerances = entry.get("tolerances")
            if isinstance(tolerances, dict) and "epoch_seconds" in tolerances:
                superseded["tolerance"] = tolerances.pop("epoch_seconds")
            superseded["note"] = (
                "per-epoch seconds of schema 3, measured without windows or the reference "
                "kernel; not comparable with step_time"
            )
            entry["superseded"] = superseded
    migrated["schema_version"] = 4
    return migrated


MIGRATIONS: Mapping[int, Callable[[dict[str, Any]], dict[str, Any]]] = {
    1: migrate_1_to_2,
    2: migrate_2_to_3,
    3: migrate_3_to_4,
}
"""``MIGRATIONS[n]`` turns a version-n document into a version-n+1 document."""


# --------------------------------------------------------------------------- reading


_FIX_BY_HAND = "Fix the file by hand, or restore it from version control; the file was not changed."


MAX_DEPTH = 64
"""Deepest nesting of objects and lists read: migrating and writing recurse per level."""


def _check_depth(document: object) -> None:
    """Raise ValueError if objects and lists nest deeper than ``MAX_DEPTH`` (no recursion)."""
    stack: list[tuple[object, int]] = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            value = list(value.values())
        if isinstance(value, list):
            if depth > MAX_DEPTH:
                raise ValueError(f"it is nested deeper than {MAX_DEPTH} levels")
            stack.extend((child, depth + 1) for child in value)


class _Reader(FieldChecker):
    """Checks a decoded document field by field, naming the file and the field."""

    def __init__(self, path: Path, registry: MetricRegistry) -> None:
        super().__init__(str(path), BaselineCorrupt, advice=_FIX_BY_HAND)
        self.path = path
        self.registry = registry
        self.unknown: list[str] = []

    def note_unknown(self, where: str, value: Mapping[str, Any], known: frozenset[str]) -> None:
        self.unknown.extend(
            f"{where}.{name}" if where else name for name in value if name not in known
        )

    def software(self, where: str, value: object) -> dict[str, str]:
        software = self.mapping(where, value)
        for name, version in software.items():
            self.text(f"{where}.{name}", version)
        return dict(software)

    def provenance(self, where: str, raw: Mapping[str, Any]) -> Provenance:
        return Provenance(
            accepted_at=self.text(f"{where}.accepted_at", raw.get("accepted_at")),
            accepted_by=self.text(f"{where}.accepted_by", raw.get("accepted_by")),
            reason=self.optional_text(f"{where}.reason", raw.get("reason")),
        )

    def samples(self, where: str, value: object) -> dict[str, tuple[float, ...]]:
        """The ``metrics`` block: each known metric's samples; unknown metrics noted."""
        blocks = self.mapping(where, value)
        samples: dict[str, tuple[float, ...]] = {}
        for name, raw in blocks.items():
            metric = self.registry.get(name)
            if metric is None or metric.name != name:
                self.unknown.append(f"{where}.{name}")
                continue
            at = f"{where}.{name}"
            block = self.mapping(at, raw)
            self.note_unknown(at, block, _STATS_KEYS)
            values = block.get("samples")
            if not isinstance(values, list) or not values:
                self.fail(f"{at}.samples", "a non-empty list of numbers", values)
            for index, sample in enumerate(values):
                if not metric.check_sample(sample):
                    self.fail(f"{at}.samples[{index}]", metric.sample_form(), sample)
            spread = block.get("spread")
            if isinstance(spread, bool) or not isinstance(spread, (int, float)) or spread < 0:
                self.fail(f"{at}.spread", "a number of at least 0", spread)
            self.number(f"{at}.center", block.get("center"))
            self.integer(f"{at}.count", block.get("count"), minimum=1)
            samples[name] = tuple(float(x) for x in values)
        return samples

    def tolerances(self, where: str, value: object) -> None:
        """Checked for review only: verdicts use the tolerances in force at run time."""
        if value is None:
            return
        block = self.mapping(where, value)
        for name, limit in block.items():
            metric = self.registry.get(name)
            if metric is None or metric.name != name:
                self.unknown.append(f"{where}.{name}")
                continue
            try:
                metric.check_tolerance(limit, where=name)
            except ValueError:
                kind = (
                    "a number above 0"
                    if metric.relative or not metric.fraction
                    else "a number above 0 and below 1"
                )
                self.fail(f"{where}.{name}", f"a valid tolerance, {kind}", limit)

    def timing(self, where: str, value: object) -> dict[str, Any] | None:
        """The raw timing block (windows, kernel, arrangement): shown, never judged."""
        if value is None:
            return None
        block = self.mapping(where, value)
        runs = block.get("runs", [])
        if not isinstance(runs, list) or not all(isinstance(run, dict) for run in runs):
            self.fail(f"{where}.runs", "a list of objects", runs)
        arrangement = block.get("arrangement", {})
        if not isinstance(arrangement, dict):
            self.fail(f"{where}.arrangement", "an object", arrangement)
        return block

    def history(self, where: str, value: object) -> tuple[HistoryRecord, ...]:
        records = []
        for index, item in enumerate(self.items(where, value)):
            at = f"{where}[{index}]"
            record = self.mapping(at, item)
            self.note_unknown(at, record, _HISTORY_KEYS)
            centers = self.mapping(f"{at}.metrics", record.get("metrics"))
            records.append(
                HistoryRecord(
                    centers={
                        name: float(self.number(f"{at}.metrics.{name}", center))
                        for name, center in centers.items()
                    },
                    software=self.software(f"{at}.software", record.get("software")),
                    provenance=self.provenance(at, record),
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
                # Files written before other backends are TensorFlow's.
                backend=self.text("hardware.backend", block.get("backend", "tensorflow")),
            )
        except ValueError as error:
            self.fail("hardware", f"a valid hardware block ({error})", value)

    def data_source(self, where: str, value: object) -> DataSource:
        if value not in DATA_SOURCES:
            self.fail(where, "'real' or 'synthetic'", value)
        return value

    def entry(self, node_id: str, value: object) -> BaselineEntry:
        where = f"entries[{node_id!r}]"
        raw = self.mapping(where, value)
        self.note_unknown(where, raw, _ENTRY_KEYS)
        self.tolerances(f"{where}.tolerances", raw.get("tolerances"))
        figures = Figures(
            node_id=node_id,
            model=self.text(f"{where}.model", raw.get("model")),
            dataset=self.text(f"{where}.dataset", raw.get("dataset")),
            batch_size=self.integer(f"{where}.batch_size", raw.get("batch_size"), minimum=1),
            data_source=self.data_source(f"{where}.data_source", raw.get("data_source")),
            samples=self.samples(f"{where}.metrics", raw.get("metrics")),
            timing=self.timing(f"{where}.timing", raw.get("timing")),
        )
        return BaselineEntry(
            figures=figures,
            software=self.software(f"{where}.software", raw.get("software")),
            provenance=self.provenance(where, raw),
            history=self.history(f"{where}.history", raw.get("history", [])),
        )


def _decode(path: Path, text: str) -> tuple[dict[str, Any], int]:
    """Decode, version-check and migrate: the current-version document, and the version read."""
    try:
        document = loads(text)
        _check_depth(document)
    except json.JSONDecodeError as error:
        raise BaselineCorrupt(
            f"The baseline file {path} is not valid JSON: {error.msg} at line {error.lineno}, "
            f"column {error.colno}. Fix the file by hand or restore it from version control; "
            "the file was not changed."
        ) from None
    except (ValueError, RecursionError) as error:
        raise BaselineCorrupt(
            f"The baseline file {path} is not valid JSON: {error}. Fix the file by hand or "
            "restore it from version control; the file was not changed."
        ) from None
    if not isinstance(document, dict):
        raise BaselineCorrupt(
            f"Expected the top level in {path} to be a JSON object. "
            f"Received: {type(document).__name__}. {_FIX_BY_HAND}"
        )
    version = FieldChecker(str(path), BaselineCorrupt, advice=_FIX_BY_HAND).integer(
        "schema_version", document.get("schema_version"), minimum=1
    )
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


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (OSError, UnicodeDecodeError) as error:
        raise BaselineCorrupt(
            f"Could not read the baseline file {path}: {error}. "
            "Check its permissions and encoding (UTF-8 JSON is expected)."
        ) from None


def _build_file(
    path: Path,
    key: HardwareKey,
    document: dict[str, Any],
    version_read: int,
    registry: MetricRegistry,
) -> BaselineFile:
    reader = _Reader(path, registry)
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


def load_baselines(
    path: str | os.PathLike[str], key: HardwareKey, registry: MetricRegistry
) -> BaselineFile | None:
    """Load the baselines in ``path`` for ``key``; None if there is no such file.

    Raises:
        BaselineCorrupt: invalid JSON (with line and column) or a field of the
            wrong type (with its place in the file).
        BaselineTooNew: a schema version newer than ``SCHEMA_VERSION``.
        BaselineHardwareMismatch: the file holds another key's baselines.
    """
    file_path = Path(path)
    text = _read_text(file_path)
    if text is None:
        return None
    document, version_read = _decode(file_path, text)
    return _build_file(file_path, key, document, version_read, registry)


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
    """The centers and provenance of a stored entry, for its history."""
    metrics = dict(raw_entry.get("metrics", {}))
    superseded = raw_entry.get("superseded")
    if isinstance(superseded, dict) and isinstance(superseded.get("epoch_seconds"), dict):
        # A schema-3 timing figure leaves the entry on re-accept; its center stays on record.
        metrics.setdefault("epoch_seconds", superseded["epoch_seconds"])
    return {
        "metrics": {
            name: block["center"]
            for name, block in metrics.items()
            if isinstance(block, dict) and "center" in block
        },
        "software": raw_entry.get("software", {}),
        "accepted_at": raw_entry.get("accepted_at"),
        "accepted_by": raw_entry.get("accepted_by"),
        "reason": raw_entry.get("reason"),
    }


def _entry_document(
    item: Accepted,
    previous: Mapping[str, Any] | None,
    registry: MetricRegistry,
    provenance: Provenance,
) -> dict[str, Any]:
    """The stored form of one accepted entry, keeping what this version does not know."""
    previous = previous or {}
    history = list(previous.get("history", []))
    if previous:
        history.append(_history_record(previous))
    if item.figures.timing is not None:
        # Accepted again with the current timing method: the old figures stay in history.
        previous = {name: value for name, value in previous.items() if name != "superseded"}

    def unknown(block: object) -> dict[str, Any]:
        # Another version's metrics and tolerances survive this one's accept;
        # a known metric that this run did not measure is dropped with the old figures.
        if not isinstance(block, dict):
            return {}
        return {name: value for name, value in block.items() if name not in registry}

    figures = item.figures
    return {
        **previous,
        "model": figures.model,
        "dataset": figures.dataset,
        "batch_size": figures.batch_size,
        "data_source": figures.data_source,
        "metrics": {
            **unknown(previous.get("metrics")),
            **{name: _statistics_block(values) for name, values in figures.samples.items()},
        },
        "tolerances": {**unknown(previous.get("tolerances")), **item.tolerances.to_dict()},
        **({"timing": dict(figures.timing)} if figures.timing is not None else {}),
        "software": dict(sorted(item.software.items())),
        "accepted_at": provenance.accepted_at,
        "accepted_by": provenance.accepted_by,
        "reason": provenance.reason,
        "history": history,
    }


def merged_document(
    path: Path,
    current_text: str | None,
    key: HardwareKey,
    accepted: Sequence[Accepted],
    registry: MetricRegistry,
    provenance: Provenance,
) -> str:
    """The text of ``path`` after accepting ``accepted`` into ``current_text``.

    Raises:
        BaselineError: the current text cannot be used (see ``load_baselines``).
    """
    if current_text is None:
        document: dict[str, Any] = {"entries": {}}
    else:
        document, version_read = _decode(path, current_text)
        # Validates types and the hardware block before anything is changed.
        _build_file(path, key, document, version_read, registry)
    document["schema_version"] = SCHEMA_VERSION
    document["hardware"] = {
        **document.get("hardware", {}),
        "device_kind": key.device_kind,
        "device_model": key.device_model,
        "device_count": key.device_count,
        "precision": key.precision,
    }
    if key.backend != "tensorflow":
        # Absent means TensorFlow: its files read as they did before other backends.
        document["hardware"]["backend"] = key.backend
    entries: dict[str, Any] = document["entries"]
    for item in accepted:
        node_id = item.figures.node_id
        entries[node_id] = _entry_document(item, entries.get(node_id), registry, provenance)
    return serialize(document)


def _write_error(path: Path, error: OSError, document: str) -> BaselineWriteError:
    reason = error.strerror or str(error)
    return BaselineWriteError(
        f"Could not write the baseline file {path}: {reason}. Expected the directory "
        f"{path.parent} to be writable. Pass {BASELINE_DIR_OPTION} with a writable directory, "
        f"or fix the permissions, and accept again; {path} was left unchanged.",
        document=document,
    )


def update_baselines(
    path: str | os.PathLike[str],
    key: HardwareKey,
    accepted: Sequence[Accepted],
    registry: MetricRegistry,
    *,
    reason: str | None,
    who: str,
    now: datetime,
) -> BaselineFile:
    """Store ``accepted`` figures as the new baselines in ``path``.

    An entry's previous values move to its ``history``; entries not in
    ``accepted`` are kept unchanged, and so are fields this version does not
    know. The file is created if missing, and read, merged and written
    atomically under an inter-process lock (``atomicfile.update_text_locked``),
    so that two sessions accepting at once both keep their entries.

    Args:
        path: the baseline file, usually ``baseline_path(directory, key)``.
        key: the hardware the figures were measured on.
        accepted: the figures to store, one per node id.
        registry: the metrics of the session.
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
    node_ids = [item.figures.node_id for item in accepted]
    duplicates = sorted({n for n in node_ids if node_ids.count(n) > 1})
    if duplicates:
        raise ValueError(
            "Expected each node id at most once in the accepted figures. "
            f"Received: node_id={duplicates[0]!r} {node_ids.count(duplicates[0])} times"
        )
    provenance = Provenance(
        accepted_at=now.astimezone(timezone.utc).isoformat(timespec="seconds"),
        accepted_by=who,
        reason=reason,
    )
    written: list[str] = []

    def merge(current_text: str | None) -> str:
        # Runs under the lock, on the file as it is now: another session's
        # accept that finished meanwhile is merged, not overwritten.
        written.append(
            merged_document(file_path, current_text, key, accepted, registry, provenance)
        )
        return written[-1]

    try:
        text = update_text_locked(file_path, merge)
    except UnicodeDecodeError as error:
        raise BaselineCorrupt(
            f"Could not read the baseline file {file_path}: {error}. "
            "Check its encoding (UTF-8 JSON is expected); the file was not changed."
        ) from None
    except OSError as error:
        # The figures are never lost: the caller can save this document.
        document = (
            written[-1]
            if written
            else merged_document(Path(path), None, key, accepted, registry, provenance)
        )
        if isinstance(error, TimeoutError):
            raise BaselineWriteError(
                f"{error} The accepted figures were not written.", document=document
            ) from None
        raise _write_error(file_path, error, document) from None
    return _build_file(file_path, key, json.loads(text), SCHEMA_VERSION, registry)
