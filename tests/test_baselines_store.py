"""Unit tests for baseline files: layout, round trips, migration, failures and properties."""

from __future__ import annotations

import copy
import json
import os
import tempfile
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from legacy_metrics import LEGACY_METRICS, legacy_registry
from metric_helpers import custom_metric

from pytest_cnnperf.baselines import (
    SCHEMA_VERSION,
    Accepted,
    BaselineCorrupt,
    BaselineEntry,
    BaselineError,
    BaselineFile,
    BaselineHardwareMismatch,
    BaselineTooNew,
    BaselineWriteError,
    Figures,
    HardwareKey,
    HistoryRecord,
    Provenance,
    Tolerances,
    baseline_path,
    default_accepted_by,
    load_baselines,
    store,
    update_baselines,
)
from pytest_cnnperf.baselines.store import (
    merged_document,
    migrate_1_to_2,
    migrate_2_to_3,
    serialize,
)
from pytest_cnnperf.metrics import MetricRegistry

KEY = HardwareKey("cpu", "Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz", 2, "float32")
OTHER_KEY = HardwareKey("cpu", "Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz", 4, "float32")
NOW = datetime(2026, 1, 5, 10, 30, 15, 123456, tzinfo=timezone.utc)
SOFTWARE = {"python": "3.11.7", "tensorflow": "2.20.0", "keras": "3.15.1"}
REGISTRY = legacy_registry()
PROVENANCE = Provenance("2026-01-05T10:30:15+00:00", "ana@build-3", "first")


GPU_MEMORY = custom_metric(name="gpu_memory", description="peak GPU memory")
WITH_MEMORY = MetricRegistry([*LEGACY_METRICS, GPU_MEMORY])

# A version-1 file as an earlier pytest-cnnperf wrote it: single medians per
# metric, no tolerances, reason or history; "comment" is a field it did not know.
STORED_V1 = """{
  "entries": {
    "tests/test_zoo.py::test_train[lenet5-mnist]": {
      "accepted_at": "2025-11-02T08:00:00+00:00",
      "accepted_by": "ana@build-3",
      "accuracy": 0.9871,
      "batch_size": 128,
      "data_source": "real",
      "dataset": "mnist",
      "epoch_seconds": 4.21,
      "images_per_second": 2375.3,
      "model": "lenet5",
      "software": {"python": "3.11.7", "tensorflow": "2.19.0"}
    }
  },
  "hardware": {
    "device_count": 2,
    "device_kind": "cpu",
    "device_model": "Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz",
    "precision": "float32"
  },
  "comment": "recorded on the old CI runner",
  "schema_version": 1
}
"""
V1_NODE = "tests/test_zoo.py::test_train[lenet5-mnist]"

# A version-2 file as the previous pytest-cnnperf wrote it: fixed metric fields,
# the old tolerance names and history records with flat centers. "ticket" is a
# field that version did not know.
STORED_V2 = """{
  "entries": {
    "t.py::a": {
      "accepted_at": "2025-12-01T09:00:00+00:00",
      "accepted_by": "ana@build-3",
      "accuracy": 0.981,
      "batch_size": 128,
      "data_source": "real",
      "dataset": "mnist",
      "epoch_seconds": {"center": 1.2, "count": 3, "samples": [1.2, 1.25, 1.18], "spread": 0.03},
      "history": [
        {
          "accepted_at": "2025-11-02T08:00:00+00:00",
          "accepted_by": "ana@build-3",
          "accuracy": 0.98,
          "epoch_seconds": 1.1,
          "images_per_second": 9000.0,
          "reason": null,
          "software": {"python": "3.11.7", "tensorflow": "2.19.0"}
        },
        {
          "accepted_at": "2025-11-20T08:00:00+00:00",
          "accepted_by": "bo@build-4",
          "accuracy": null,
          "epoch_seconds": 1.15,
          "images_per_second": 8600.0,
          "reason": "no accuracy then",
          "software": {"python": "3.11.7", "tensorflow": "2.20.0"}
        }
      ],
      "images_per_second": {
        "center": 8300.0, "count": 3, "samples": [8300.0, 8000.0, 8400.0], "spread": 150.0
      },
      "model": "lenet5",
      "reason": "TensorFlow upgrade",
      "software": {"python": "3.11.7", "tensorflow": "2.20.0"},
      "ticket": "PERF-7",
      "tolerances": {"accuracy": 0.02, "epoch_time": 0.3, "images_per_second": 0.4}
    },
    "t.py::b": {
      "accepted_at": "2025-12-01T09:00:00+00:00",
      "accepted_by": "ana@build-3",
      "accuracy": null,
      "batch_size": 64,
      "data_source": "synthetic",
      "dataset": "cifar10",
      "epoch_seconds": {"center": 2.0, "count": 1, "samples": [2.0], "spread": 0.0},
      "history": [],
      "images_per_second": {"center": 25000.0, "count": 1, "samples": [25000.0], "spread": 0.0},
      "model": "resnet18",
      "reason": null,
      "software": {"python": "3.11.7"},
      "tolerances": {"accuracy": 0.02, "images_per_second": 0.35}
    }
  },
  "hardware": {
    "device_count": 2,
    "device_kind": "cpu",
    "device_model": "Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz",
    "precision": "float32"
  },
  "schema_version": 2
}
"""


def _figures(
    node_id: str = "t.py::a",
    scale: float = 1.0,
    accuracy: float | None = 0.98,
    extra: dict[str, tuple[float, ...]] | None = None,
    **changes: Any,
) -> Figures:
    samples: dict[str, tuple[float, ...]] = {
        "epoch_seconds": tuple(scale * x for x in (1.0, 1.05, 0.97))
    }
    if accuracy is not None:
        samples["accuracy"] = (accuracy,)
    samples.update(extra or {})
    values: dict[str, Any] = {
        "node_id": node_id,
        "model": "lenet5",
        "dataset": "mnist",
        "batch_size": 128,
        "data_source": "real",
        "samples": samples,
    }
    values.update(changes)
    return Figures(**values)


def _accepted(
    *figures: Figures,
    software: dict[str, str] = SOFTWARE,
    registry: MetricRegistry = REGISTRY,
) -> list[Accepted]:
    return [Accepted(f, Tolerances.defaults(registry), software) for f in figures]


def _accept(
    path: Path,
    *figures: Figures,
    reason: str | None = "first",
    now: datetime = NOW,
    software: dict[str, str] = SOFTWARE,
    registry: MetricRegistry = REGISTRY,
) -> BaselineFile:
    return update_baselines(
        path,
        KEY,
        _accepted(*figures, software=software, registry=registry),
        registry,
        reason=reason,
        who="ana@build-3",
        now=now,
    )


def _load(path: Path, key: HardwareKey = KEY, registry: MetricRegistry = REGISTRY) -> BaselineFile:
    loaded = load_baselines(path, key, registry)
    assert loaded is not None
    return loaded


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def _write(path: Path, document: dict[str, Any]) -> bytes:
    path.write_text(json.dumps(document, indent=2), encoding="utf-8")
    return path.read_bytes()


def _document(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- layout, round trip


def test_baseline_path_uses_the_slug(tmp_path: Path) -> None:
    assert baseline_path(tmp_path, KEY) == (
        tmp_path / "cpu-intel-xeon-platinum-8375c-2c-float32.json"
    )


def test_missing_file_loads_as_none(tmp_path: Path) -> None:
    assert load_baselines(tmp_path / "none.json", KEY, REGISTRY) is None
    assert load_baselines(tmp_path / "no-dir" / "none.json", KEY, REGISTRY) is None


def test_round_trip(tmp_path: Path) -> None:
    path = baseline_path(tmp_path / "baselines", KEY)
    written = _accept(path, _figures("t.py::a"), _figures("t.py::b", 2.0, accuracy=None))
    loaded = _load(path)
    assert loaded == written
    assert loaded.hardware == KEY
    assert loaded.warnings == ()
    assert loaded.schema_version_read == SCHEMA_VERSION == 4
    entry = loaded.entries["t.py::a"]
    assert entry == BaselineEntry(
        figures=_figures("t.py::a"),
        software=SOFTWARE,
        provenance=Provenance("2026-01-05T10:30:15+00:00", "ana@build-3", "first"),
        history=(),
    )
    assert entry.node_id == "t.py::a"
    assert loaded.entries["t.py::b"].figures.samples == {"epoch_seconds": (2.0, 2.1, 1.94)}


def test_file_layout_is_versioned_sorted_and_indented(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    _accept(path, _figures())
    text = path.read_text(encoding="utf-8")
    document = json.loads(text)
    assert document["schema_version"] == 4
    assert document["hardware"] == {
        "device_count": 2,
        "device_kind": "cpu",
        "device_model": KEY.device_model,
        "precision": "float32",
    }
    assert text == json.dumps(document, indent=2, sort_keys=True) + "\n"
    entry = document["entries"]["t.py::a"]
    assert sorted(entry) == [
        "accepted_at",
        "accepted_by",
        "batch_size",
        "data_source",
        "dataset",
        "history",
        "metrics",
        "model",
        "reason",
        "software",
        "tolerances",
    ]
    # Stored to six significant digits: 1.4826 * 0.03 = 0.044478.
    assert entry["metrics"] == {
        "accuracy": {"center": 0.98, "count": 1, "samples": [0.98], "spread": 0.0},
        "epoch_seconds": {
            "center": 1.0,
            "count": 3,
            "samples": [1.0, 1.05, 0.97],
            "spread": 0.044478,
        },
    }
    assert entry["tolerances"] == {"accuracy": 0.02, "epoch_seconds": 0.25}
    assert entry["software"] == {"keras": "3.15.1", "python": "3.11.7", "tensorflow": "2.20.0"}


def test_keys_are_sorted_at_every_level(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    _accept(path, _figures("z.py::last"), _figures("a.py::first"), software={"z": "1", "a": "2"})
    text = path.read_text(encoding="utf-8")
    assert text.index('"a.py::first"') < text.index('"z.py::last"')
    assert text.index('"entries"') < text.index('"hardware"') < text.index('"schema_version"')
    entry = _document(path)["entries"]["a.py::first"]
    assert list(entry["software"]) == ["a", "z"]
    assert list(entry["metrics"]) == ["accuracy", "epoch_seconds"]


def test_floats_are_rounded_to_six_significant_digits() -> None:
    text = serialize({"a": 1.23456789, "b": [123456.789, 0.000123456789], "c": {"d": 2.0}, "e": 3})
    assert json.loads(text) == {"a": 1.23457, "b": [123457.0, 0.000123457], "c": {"d": 2.0}, "e": 3}
    assert text.endswith("}\n")


def test_stored_samples_are_rounded(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    _accept(path, _figures(scale=1 / 3, accuracy=0.987654321))
    metrics = _document(path)["entries"]["t.py::a"]["metrics"]
    assert metrics["epoch_seconds"]["samples"] == [0.333333, 0.35, 0.323333]
    assert metrics["accuracy"]["samples"] == [0.987654]
    # Throughput is derived from epoch time: it is not stored any more.
    assert "images_per_second" not in metrics


def test_second_accept_moves_the_old_values_to_history(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    _accept(path, _figures(), _figures("t.py::keep"))
    kept_before = _document(path)["entries"]["t.py::keep"]
    later = NOW + timedelta(days=3)
    new_software = {**SOFTWARE, "tensorflow": "2.21.0"}
    result = _accept(
        path, _figures(scale=1.3), reason="TF upgrade", now=later, software=new_software
    )
    entry = result.entries["t.py::a"]
    assert entry.figures.samples["epoch_seconds"] == pytest.approx((1.3, 1.365, 1.261))
    assert entry.provenance.reason == "TF upgrade"
    assert entry.software == new_software
    assert entry.history == (
        HistoryRecord(
            centers={"accuracy": 0.98, "epoch_seconds": 1.0},
            software=SOFTWARE,
            provenance=Provenance("2026-01-05T10:30:15+00:00", "ana@build-3", "first"),
        ),
    )
    # Entries not accepted again are the same, field for field.
    assert _document(path)["entries"]["t.py::keep"] == kept_before
    third = _accept(path, _figures(scale=1.1), reason=None, now=later + timedelta(days=1))
    history = third.entries["t.py::a"].history
    assert [h.centers["epoch_seconds"] for h in history] == [1.0, 1.3]
    assert [h.provenance.reason for h in history] == ["first", "TF upgrade"]
    assert third.entries["t.py::a"].provenance.reason is None


def test_accepted_at_is_stored_in_utc(tmp_path: Path) -> None:
    tz = timezone(timedelta(hours=2))
    result = _accept(tmp_path / "b.json", _figures(), now=datetime(2026, 3, 1, 1, 0, tzinfo=tz))
    assert result.entries["t.py::a"].provenance.accepted_at == "2026-02-28T23:00:00+00:00"


def test_tolerances_of_the_accept_are_recorded(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    tolerances = Tolerances({"epoch_seconds": 0.4, "accuracy": 0.01})
    update_baselines(
        path,
        KEY,
        [Accepted(_figures(), tolerances, SOFTWARE)],
        REGISTRY,
        reason=None,
        who="x@y",
        now=NOW,
    )
    assert _document(path)["entries"]["t.py::a"]["tolerances"] == {
        "accuracy": 0.01,
        "epoch_seconds": 0.4,
    }


def test_duplicate_node_ids_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError) as info:
        _accept(tmp_path / "b.json", _figures(), _figures())
    assert str(info.value) == (
        "Expected each node id at most once in the accepted figures. "
        "Received: node_id='t.py::a' 2 times"
    )
    assert not (tmp_path / "b.json").exists()


def test_a_known_metric_not_measured_in_the_new_accept_is_dropped(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    _accept(path, _figures(extra={"gpu_memory": (800.0, 810.0)}), registry=WITH_MEMORY)
    result = _accept(path, _figures(accuracy=None), registry=WITH_MEMORY)
    assert sorted(_document(path)["entries"]["t.py::a"]["metrics"]) == ["epoch_seconds"]
    entry = result.entries["t.py::a"]
    assert entry.figures.samples == {"epoch_seconds": (1.0, 1.05, 0.97)}
    # Its old center is in the history with the rest of the old figures.
    assert entry.history[0].centers == {
        "accuracy": 0.98,
        "epoch_seconds": 1.0,
        "gpu_memory": 805.0,
    }
    assert result.warnings == ()


# --------------------------------------------------------------------------- write failures


def test_failing_replace_keeps_the_old_file_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "b.json"
    _accept(path, _figures())
    before = path.read_bytes()

    def broken_replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(BaselineWriteError) as info:
        _accept(path, _figures(scale=2.0), reason="second")
    assert str(info.value) == (
        f"Could not write the baseline file {path}: Input/output error. Expected the "
        f"directory {tmp_path} to be writable. Pass --cnnperf-baseline-dir with a writable "
        f"directory, or fix the permissions, and accept again; {path} was left unchanged."
    )
    # The figures that could not be stored are not lost: the caller gets the exact text.
    document = info.value.document
    assert json.loads(document)["entries"]["t.py::a"]["metrics"]["epoch_seconds"]["center"] == 2.0
    assert document == merged_document(
        path,
        before.decode("utf-8"),
        KEY,
        _accepted(_figures(scale=2.0)),
        REGISTRY,
        Provenance("2026-01-05T10:30:15+00:00", "ana@build-3", "second"),
    )
    assert path.read_bytes() == before
    assert _leftovers(tmp_path) == []


def test_lock_timeout_keeps_the_figures(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "b.json"
    _accept(path, _figures())
    before = path.read_bytes()

    def locked(path: Path, update: Callable[[str | None], str]) -> str:
        raise TimeoutError(f"Could not update {path}: waited 120 seconds for the lock.")

    monkeypatch.setattr(store, "update_text_locked", locked)
    with pytest.raises(BaselineWriteError) as info:
        _accept(path, _figures(scale=2.0))
    assert str(info.value) == (
        f"Could not update {path}: waited 120 seconds for the lock. The accepted figures "
        "were not written."
    )
    # The lock was never held, so the document holds the accepted entries alone.
    assert list(json.loads(info.value.document)["entries"]) == ["t.py::a"]
    assert path.read_bytes() == before


def test_crash_while_writing_keeps_the_old_file_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "b.json"
    _accept(path, _figures())
    before = path.read_bytes()

    def interrupted(fd: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _accept(path, _figures(scale=2.0))
    assert path.read_bytes() == before
    assert _leftovers(tmp_path) == []


def test_failing_serializer_keeps_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "b.json"
    _accept(path, _figures())
    before = path.read_bytes()

    def broken_serialize(document: object) -> str:
        raise TypeError("Object of type Fraction is not JSON serializable")

    monkeypatch.setattr(store, "serialize", broken_serialize)
    with pytest.raises(TypeError):
        _accept(path, _figures(scale=2.0))
    assert path.read_bytes() == before
    assert _leftovers(tmp_path) == []


def test_unwritable_directory_names_it_and_the_option(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Tests may run as root, where chmod does not stop writes: refuse the
    # temporary file the way a read-only directory would.
    path = tmp_path / "b.json"
    _accept(path, _figures())
    before = path.read_bytes()
    real_open = os.open

    def read_only_open(file: str | os.PathLike[str], flags: int, mode: int = 0o777) -> int:
        if os.fspath(file).endswith(".tmp"):
            raise PermissionError(13, "Permission denied", os.fspath(file))
        return real_open(file, flags, mode)

    monkeypatch.setattr(os, "open", read_only_open)
    with pytest.raises(BaselineWriteError) as info:
        _accept(path, _figures(scale=2.0))
    assert str(info.value) == (
        f"Could not write the baseline file {path}: Permission denied. Expected the "
        f"directory {tmp_path} to be writable. Pass --cnnperf-baseline-dir with a writable "
        f"directory, or fix the permissions, and accept again; {path} was left unchanged."
    )
    assert path.read_bytes() == before


def test_directory_that_is_a_file_is_a_write_error(tmp_path: Path) -> None:
    blocker = tmp_path / "baselines"
    blocker.write_text("not a directory")
    path = blocker / "b.json"
    with pytest.raises(BaselineWriteError) as info:
        _accept(path, _figures())
    assert str(info.value).startswith(f"Could not write the baseline file {path}: ")
    assert "Pass --cnnperf-baseline-dir with a writable directory" in str(info.value)
    assert json.loads(info.value.document)["entries"]["t.py::a"]["model"] == "lenet5"
    assert blocker.read_text() == "not a directory"


def test_file_mode_is_kept_on_rewrite(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    _accept(path, _figures())
    path.chmod(0o640)
    _accept(path, _figures(scale=1.2))
    assert path.stat().st_mode & 0o777 == 0o640


# --------------------------------------------------------------------------- versions


def test_newer_schema_is_refused_and_never_rewritten(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    _accept(path, _figures())
    document = _document(path)
    document["schema_version"] = 5
    before = _write(path, document)
    message = (
        f"The baseline file {path} has schema_version 5, but this pytest-cnnperf reads "
        "schema versions up to 4. Upgrade pytest-cnnperf to use it; the file was not changed."
    )
    with pytest.raises(BaselineTooNew) as info:
        load_baselines(path, KEY, REGISTRY)
    assert str(info.value) == message
    with pytest.raises(BaselineTooNew):
        _accept(path, _figures(scale=2.0))
    assert path.read_bytes() == before


def test_stored_v1_file_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    path.write_text(STORED_V1, encoding="utf-8")
    loaded = _load(path)
    assert loaded.schema_version_read == 1
    assert loaded.warnings == (
        f"The baseline file {path} uses schema version 1; it was read as version 4 and will "
        "be written as version 4 when figures are next accepted.",
        f"The baseline file {path} has fields this version of pytest-cnnperf does not know: "
        "comment. They are kept unchanged when the file is rewritten.",
    )
    entry = loaded.entries[V1_NODE]
    # Single medians become one-sample blocks; throughput is dropped; schema 4
    # sets the per-epoch seconds aside (superseded), no longer compared.
    assert entry.figures.samples == {"accuracy": (0.9871,)}
    assert entry.provenance == Provenance("2025-11-02T08:00:00+00:00", "ana@build-3", None)
    assert entry.history == ()
    assert entry.software == {"python": "3.11.7", "tensorflow": "2.19.0"}
    # Reading never rewrites.
    assert path.read_text(encoding="utf-8") == STORED_V1


def test_migrate_1_to_2_function() -> None:
    migrated = migrate_1_to_2(json.loads(STORED_V1))
    entry = migrated["entries"][V1_NODE]
    assert migrated["schema_version"] == 2
    assert entry["epoch_seconds"] == {"center": 4.21, "spread": 0.0, "count": 1, "samples": [4.21]}
    assert entry["images_per_second"] == {
        "center": 2375.3,
        "spread": 0.0,
        "count": 1,
        "samples": [2375.3],
    }
    assert entry["accuracy"] == 0.9871
    assert (entry["tolerances"], entry["reason"], entry["history"]) == (None, None, [])
    assert migrated["comment"] == "recorded on the old CI runner"
    # The input is not modified.
    assert json.loads(STORED_V1)["entries"][V1_NODE]["epoch_seconds"] == 4.21


def test_migrate_1_to_2_to_3() -> None:
    migrated = migrate_2_to_3(migrate_1_to_2(json.loads(STORED_V1)))
    assert migrated == {
        "comment": "recorded on the old CI runner",
        "entries": {
            V1_NODE: {
                "accepted_at": "2025-11-02T08:00:00+00:00",
                "accepted_by": "ana@build-3",
                "batch_size": 128,
                "data_source": "real",
                "dataset": "mnist",
                "history": [],
                "metrics": {
                    "accuracy": {"center": 0.9871, "count": 1, "samples": [0.9871], "spread": 0.0},
                    "epoch_seconds": {"center": 4.21, "count": 1, "samples": [4.21], "spread": 0.0},
                },
                "model": "lenet5",
                "reason": None,
                "software": {"python": "3.11.7", "tensorflow": "2.19.0"},
                "tolerances": None,
            }
        },
        "hardware": json.loads(STORED_V1)["hardware"],
        "schema_version": 3,
    }


def test_migrate_2_to_3_function() -> None:
    original = json.loads(STORED_V2)
    migrated = migrate_2_to_3(original)
    assert migrated["schema_version"] == 3
    entry = migrated["entries"]["t.py::a"]
    for moved in ("epoch_seconds", "images_per_second", "accuracy"):
        assert moved not in entry
    assert entry["metrics"] == {
        "epoch_seconds": {"center": 1.2, "count": 3, "samples": [1.2, 1.25, 1.18], "spread": 0.03},
        "accuracy": {"center": 0.981, "spread": 0.0, "count": 1, "samples": [0.981]},
    }
    # epoch_time wins over images_per_second: both meant "up to t slower".
    assert entry["tolerances"] == {"accuracy": 0.02, "epoch_seconds": 0.3}
    assert entry["history"] == [
        {
            "accepted_at": "2025-11-02T08:00:00+00:00",
            "accepted_by": "ana@build-3",
            "metrics": {"epoch_seconds": 1.1, "accuracy": 0.98},
            "reason": None,
            "software": {"python": "3.11.7", "tensorflow": "2.19.0"},
        },
        {
            "accepted_at": "2025-11-20T08:00:00+00:00",
            "accepted_by": "bo@build-4",
            "metrics": {"epoch_seconds": 1.15},
            "reason": "no accuracy then",
            "software": {"python": "3.11.7", "tensorflow": "2.20.0"},
        },
    ]
    assert entry["ticket"] == "PERF-7"
    other = migrated["entries"]["t.py::b"]
    # A null accuracy is no block; a lone images_per_second tolerance becomes epoch_seconds.
    assert list(other["metrics"]) == ["epoch_seconds"]
    assert other["tolerances"] == {"accuracy": 0.02, "epoch_seconds": 0.35}
    # The input is not modified.
    assert original == json.loads(STORED_V2)


def test_stored_v2_file_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    path.write_text(STORED_V2, encoding="utf-8")
    loaded = _load(path)
    assert loaded.schema_version_read == 2
    assert loaded.warnings == (
        f"The baseline file {path} uses schema version 2; it was read as version 4 and will "
        "be written as version 4 when figures are next accepted.",
        f"The baseline file {path} has fields this version of pytest-cnnperf does not know: "
        "entries['t.py::a'].ticket. They are kept unchanged when the file is rewritten.",
    )
    entry = loaded.entries["t.py::a"]
    # Schema 4 sets the per-epoch seconds aside (superseded); history keeps its centers.
    assert entry.figures.samples == {"accuracy": (0.981,)}
    assert entry.provenance == Provenance(
        "2025-12-01T09:00:00+00:00", "ana@build-3", "TensorFlow upgrade"
    )
    assert [h.centers for h in entry.history] == [
        {"epoch_seconds": 1.1, "accuracy": 0.98},
        {"epoch_seconds": 1.15},
    ]
    other = loaded.entries["t.py::b"].figures
    assert (other.model, other.batch_size, other.data_source) == ("resnet18", 64, "synthetic")
    assert other.samples == {}  # its epoch_seconds superseded by schema 4
    assert path.read_text(encoding="utf-8") == STORED_V2


def test_accept_over_a_v1_file_writes_v3_with_history(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    path.write_text(STORED_V1, encoding="utf-8")
    result = _accept(path, _figures(V1_NODE))
    document = _document(path)
    assert document["schema_version"] == 4
    assert document["comment"] == "recorded on the old CI runner"
    history = result.entries[V1_NODE].history
    assert history == (
        HistoryRecord(
            centers={"accuracy": 0.9871, "epoch_seconds": 4.21},
            software={"python": "3.11.7", "tensorflow": "2.19.0"},
            provenance=Provenance("2025-11-02T08:00:00+00:00", "ana@build-3", None),
        ),
    )
    assert "images_per_second" not in document["entries"][V1_NODE]


def test_accept_over_a_v2_file_writes_v3(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    path.write_text(STORED_V2, encoding="utf-8")
    result = _accept(path, _figures("t.py::a"))
    document = _document(path)
    assert document["schema_version"] == 4
    entry = document["entries"]["t.py::a"]
    assert entry["ticket"] == "PERF-7"
    assert [h["metrics"] for h in entry["history"]] == [
        {"accuracy": 0.98, "epoch_seconds": 1.1},
        {"epoch_seconds": 1.15},
        {"accuracy": 0.981, "epoch_seconds": 1.2},
    ]
    assert entry["history"][-1]["reason"] == "TensorFlow upgrade"
    # The entry not accepted again is written in the version-4 layout too: its
    # per-epoch seconds set aside, never compared with calibrated step times.
    assert document["entries"]["t.py::b"]["metrics"] == {}
    assert document["entries"]["t.py::b"]["superseded"]["epoch_seconds"] == {
        "center": 2.0,
        "count": 1,
        "samples": [2.0],
        "spread": 0.0,
    }
    assert "images_per_second" not in document["entries"]["t.py::b"]
    assert result.warnings == (
        f"The baseline file {path} has fields this version of pytest-cnnperf does not know: "
        "entries['t.py::a'].ticket. They are kept unchanged when the file is rewritten.",
    )


def test_bad_accuracy_in_a_v2_file_names_the_migrated_field(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    document = json.loads(STORED_V2)
    document["entries"]["t.py::a"]["accuracy"] = 98.1
    _write(path, document)
    where = "entries['t.py::a'].metrics.accuracy.samples[0]"
    with pytest.raises(BaselineCorrupt) as info:
        load_baselines(path, KEY, REGISTRY)
    assert str(info.value) == (
        f"Expected {where} in {path} to be a number from 0 to 1. Received: {where}=98.1. Fix "
        "the file by hand, or restore it from version control; the file was not changed."
    )


# --------------------------------------------------------------------------- unknown fields


def test_unknown_fields_are_kept_and_reported(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    _accept(path, _figures(), _figures("t.py::b"))
    document = _document(path)
    document["owner"] = "perf team"
    document["hardware"]["driver"] = "550.54"
    document["entries"]["t.py::a"]["ticket"] = "PERF-12"
    document["entries"]["t.py::a"]["metrics"]["epoch_seconds"]["p90"] = 1.05
    document["entries"]["t.py::b"]["gpu_memory_mb"] = 812
    _write(path, document)
    loaded = _load(path)
    assert loaded.warnings == (
        f"The baseline file {path} has fields this version of pytest-cnnperf does not know: "
        "owner, hardware.driver, entries['t.py::a'].ticket, "
        "entries['t.py::a'].metrics.epoch_seconds.p90, entries['t.py::b'].gpu_memory_mb. "
        "They are kept unchanged when the file is rewritten.",
    )
    _accept(path, _figures(scale=1.5))
    after = _document(path)
    assert after["owner"] == "perf team"
    assert after["hardware"]["driver"] == "550.54"
    assert after["entries"]["t.py::a"]["ticket"] == "PERF-12"
    assert after["entries"]["t.py::b"]["gpu_memory_mb"] == 812
    # The statistics block is recomputed from the new samples.
    assert "p90" not in after["entries"]["t.py::a"]["metrics"]["epoch_seconds"]


def test_unknown_metrics_and_tolerances_are_reported_and_kept_on_accept(tmp_path: Path) -> None:
    # A newer tool (or a plugin this session lacks) stored gpu_memory.
    path = tmp_path / "b.json"
    _accept(path, _figures(extra={"gpu_memory": (800.0, 810.0)}), registry=WITH_MEMORY)
    stored = _document(path)["entries"]["t.py::a"]
    block, limit = stored["metrics"]["gpu_memory"], stored["tolerances"]["gpu_memory"]
    assert (block["center"], limit) == (805.0, 0.1)
    loaded = _load(path)
    assert loaded.warnings == (
        f"The baseline file {path} has fields this version of pytest-cnnperf does not know: "
        "entries['t.py::a'].tolerances.gpu_memory, entries['t.py::a'].metrics.gpu_memory. "
        "They are kept unchanged when the file is rewritten.",
    )
    assert loaded.entries["t.py::a"].figures.samples == {
        "epoch_seconds": (1.0, 1.05, 0.97),
        "accuracy": (0.98,),
    }
    result = _accept(path, _figures(scale=1.2))
    after = _document(path)["entries"]["t.py::a"]
    assert after["metrics"]["gpu_memory"] == block
    assert after["tolerances"] == {"accuracy": 0.02, "epoch_seconds": 0.25, "gpu_memory": 0.1}
    assert after["metrics"]["epoch_seconds"]["center"] == 1.2
    assert result.warnings == loaded.warnings
    # The session that knows the metric reads it again.
    assert _load(path, registry=WITH_MEMORY).entries["t.py::a"].figures.samples["gpu_memory"] == (
        800.0,
        810.0,
    )


def test_old_names_in_a_v3_entry_are_unknown(tmp_path: Path) -> None:
    # Aliases are for tolerance specs and markers; a version-3 file uses names.
    path = tmp_path / "b.json"
    _accept(path, _figures())
    document = _document(path)
    document["entries"]["t.py::a"]["tolerances"]["epoch_time"] = 0.3
    _write(path, document)
    assert _load(path).warnings == (
        f"The baseline file {path} has fields this version of pytest-cnnperf does not know: "
        "entries['t.py::a'].tolerances.epoch_time. They are kept unchanged when the file is "
        "rewritten.",
    )
    _accept(path, _figures())
    assert _document(path)["entries"]["t.py::a"]["tolerances"]["epoch_time"] == 0.3


# --------------------------------------------------------------------------- corrupt files


def test_hardware_mismatch_names_both(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    _accept(path, _figures())
    before = path.read_bytes()
    message = (
        f"Expected the baseline file {path} to hold baselines for cpu "
        f"'{KEY.device_model}' x4, float32. Received: hardware=cpu '{KEY.device_model}' x2, "
        "float32. The file was probably copied or renamed from another machine: give it the "
        "name of its own hardware key, or move it out of the baseline directory to record "
        "new baselines here."
    )
    with pytest.raises(BaselineHardwareMismatch) as info:
        load_baselines(path, OTHER_KEY, REGISTRY)
    assert str(info.value) == message
    with pytest.raises(BaselineHardwareMismatch):
        update_baselines(
            path,
            OTHER_KEY,
            [Accepted(_figures(), Tolerances.defaults(REGISTRY))],
            REGISTRY,
            reason=None,
            who="x@y",
            now=NOW,
        )
    assert path.read_bytes() == before


def test_invalid_json_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    path.write_text('{"schema_version": 3,\n  "hardware": }\n', encoding="utf-8")
    with pytest.raises(BaselineCorrupt) as info:
        load_baselines(path, KEY, REGISTRY)
    assert str(info.value) == (
        f"The baseline file {path} is not valid JSON: Expecting value at line 2, column 15. "
        "Fix the file by hand or restore it from version control; the file was not changed."
    )
    with pytest.raises(BaselineCorrupt):
        _accept(path, _figures())
    assert path.read_text() == '{"schema_version": 3,\n  "hardware": }\n'


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('{"schema_version": NaN}', "NaN is not a number JSON allows"),
        ('{"schema_version": 3, "x": -Infinity}', "-Infinity is not a number JSON allows"),
        # Valid JSON, but beyond a float: it would read as inf and never write back.
        ('{"schema_version": 3, "x": 1e400}', "1e400 is not a number JSON allows"),
    ],
)
def test_non_finite_numbers_are_refused(tmp_path: Path, text: str, reason: str) -> None:
    path = tmp_path / "b.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(BaselineCorrupt) as info:
        load_baselines(path, KEY, REGISTRY)
    assert str(info.value) == (
        f"The baseline file {path} is not valid JSON: {reason}. Fix the file by hand or "
        "restore it from version control; the file was not changed."
    )
    with pytest.raises(BaselineCorrupt):
        _accept(path, _figures())
    assert path.read_text() == text


@pytest.mark.parametrize("version", [1, 3])
def test_deep_nesting_is_refused(tmp_path: Path, version: int) -> None:
    # Migrating (deepcopy) and writing recurse once per level: a hand-made file
    # hundreds of levels deep must be a BaselineCorrupt, not a RecursionError.
    path = tmp_path / "b.json"
    if version == 1:
        document = json.loads(STORED_V1)
    else:
        _accept(path, _figures())
        document = _document(path)
    document["comment"] = json.loads("[" * 600 + "]" * 600)
    text = json.dumps(document)
    path.write_text(text, encoding="utf-8")
    with pytest.raises(BaselineCorrupt) as info:
        load_baselines(path, KEY, REGISTRY)
    assert str(info.value) == (
        f"The baseline file {path} is not valid JSON: it is nested deeper than 64 levels. "
        "Fix the file by hand or restore it from version control; the file was not changed."
    )
    with pytest.raises(BaselineCorrupt):
        _accept(path, _figures())
    assert path.read_text() == text


def test_binary_file_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(BaselineCorrupt) as info:
        load_baselines(path, KEY, REGISTRY)
    assert str(info.value).startswith(f"Could not read the baseline file {path}: ")
    assert str(info.value).endswith("Check its permissions and encoding (UTF-8 JSON is expected).")
    with pytest.raises(BaselineCorrupt) as info:
        _accept(path, _figures())
    assert str(info.value).startswith(f"Could not read the baseline file {path}: ")
    assert str(info.value).endswith(
        "Check its encoding (UTF-8 JSON is expected); the file was not changed."
    )
    assert path.read_bytes() == b"\xff\xfe\x00garbage"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[1, 2]", "Expected the top level in {path} to be a JSON object. Received: list."),
        (
            '{"hardware": {}}',
            "Expected schema_version in {path} to be a whole number of at least 1. "
            "Received: schema_version=None.",
        ),
        (
            '{"schema_version": 0}',
            "Expected schema_version in {path} to be a whole number of at least 1. "
            "Received: schema_version=0.",
        ),
    ],
)
def test_top_level_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "b.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(BaselineCorrupt) as info:
        load_baselines(path, KEY, REGISTRY)
    assert str(info.value) == (
        message.format(path=path) + " Fix the file by hand, or restore it from version "
        "control; the file was not changed."
    )


def _entry_a(document: dict[str, Any]) -> dict[str, Any]:
    return document["entries"]["t.py::a"]  # type: ignore[no-any-return]


def _with_history(document: dict[str, Any], record: object) -> None:
    _entry_a(document)["history"] = [record]


@pytest.mark.parametrize(
    ("edit", "where", "expected", "received"),
    [
        (
            lambda d: _entry_a(d).__setitem__("batch_size", "128"),
            "entries['t.py::a'].batch_size",
            "a whole number of at least 1",
            "'128'",
        ),
        (
            lambda d: _entry_a(d).__setitem__("data_source", "fake"),
            "entries['t.py::a'].data_source",
            "'real' or 'synthetic'",
            "'fake'",
        ),
        (
            lambda d: _entry_a(d).__setitem__("model", None),
            "entries['t.py::a'].model",
            "a string",
            "None",
        ),
        (
            lambda d: _entry_a(d).__setitem__("metrics", []),
            "entries['t.py::a'].metrics",
            "a JSON object",
            "[]",
        ),
        (
            lambda d: _entry_a(d)["metrics"].__setitem__("epoch_seconds", 1.0),
            "entries['t.py::a'].metrics.epoch_seconds",
            "a JSON object",
            "1.0",
        ),
        (
            lambda d: _entry_a(d)["metrics"]["epoch_seconds"].__setitem__("samples", []),
            "entries['t.py::a'].metrics.epoch_seconds.samples",
            "a non-empty list of numbers",
            "[]",
        ),
        (
            lambda d: _entry_a(d)["metrics"]["epoch_seconds"]["samples"].__setitem__(1, -1),
            "entries['t.py::a'].metrics.epoch_seconds.samples[1]",
            "a finite number above 0",
            "-1",
        ),
        (
            lambda d: _entry_a(d)["metrics"]["epoch_seconds"]["samples"].__setitem__(0, "1"),
            "entries['t.py::a'].metrics.epoch_seconds.samples[0]",
            "a finite number above 0",
            "'1'",
        ),
        (
            lambda d: _entry_a(d)["metrics"]["accuracy"]["samples"].__setitem__(0, 98.1),
            "entries['t.py::a'].metrics.accuracy.samples[0]",
            "a number from 0 to 1",
            "98.1",
        ),
        (
            lambda d: _entry_a(d)["metrics"]["epoch_seconds"].__setitem__("spread", -0.1),
            "entries['t.py::a'].metrics.epoch_seconds.spread",
            "a number of at least 0",
            "-0.1",
        ),
        (
            lambda d: _entry_a(d)["metrics"]["epoch_seconds"].__setitem__("center", "1"),
            "entries['t.py::a'].metrics.epoch_seconds.center",
            "a number",
            "'1'",
        ),
        (
            lambda d: _entry_a(d)["metrics"]["epoch_seconds"].__setitem__("count", 0),
            "entries['t.py::a'].metrics.epoch_seconds.count",
            "a whole number of at least 1",
            "0",
        ),
        (
            lambda d: _entry_a(d)["software"].__setitem__("keras", 3),
            "entries['t.py::a'].software.keras",
            "a string",
            "3",
        ),
        (
            lambda d: _entry_a(d).__setitem__("accepted_at", None),
            "entries['t.py::a'].accepted_at",
            "a string",
            "None",
        ),
        (
            lambda d: _entry_a(d).__setitem__("reason", 7),
            "entries['t.py::a'].reason",
            "a string",
            "7",
        ),
        (
            lambda d: d.__setitem__("entries", []),
            "entries",
            "a JSON object",
            "[]",
        ),
        (
            lambda d: d["entries"].__setitem__("t.py::a", "lenet5"),
            "entries['t.py::a']",
            "a JSON object",
            "'lenet5'",
        ),
        (
            lambda d: _entry_a(d)["tolerances"].__setitem__("accuracy", 0),
            "entries['t.py::a'].tolerances.accuracy",
            "a valid tolerance, a number above 0 and below 1",
            "0",
        ),
        (
            lambda d: _entry_a(d)["tolerances"].__setitem__("epoch_seconds", "25%"),
            "entries['t.py::a'].tolerances.epoch_seconds",
            "a valid tolerance, a number above 0",
            "'25%'",
        ),
        (
            lambda d: _entry_a(d).__setitem__("tolerances", [0.25]),
            "entries['t.py::a'].tolerances",
            "a JSON object",
            "[0.25]",
        ),
        (
            lambda d: _entry_a(d).__setitem__("history", {}),
            "entries['t.py::a'].history",
            "a list",
            "{}",
        ),
        (
            lambda d: _with_history(d, {"software": {}, "accepted_at": "x", "accepted_by": "y"}),
            "entries['t.py::a'].history[0].metrics",
            "a JSON object",
            "None",
        ),
        (
            lambda d: _with_history(
                d,
                {
                    "metrics": {"epoch_seconds": "1.0"},
                    "software": {},
                    "accepted_at": "x",
                    "accepted_by": "y",
                },
            ),
            "entries['t.py::a'].history[0].metrics.epoch_seconds",
            "a number",
            "'1.0'",
        ),
        (
            lambda d: d["hardware"].__setitem__("precision", 32),
            "hardware.precision",
            "a string",
            "32",
        ),
    ],
)
def test_wrong_types_name_the_field(
    tmp_path: Path, edit: Callable[[dict[str, Any]], None], where: str, expected: str, received: str
) -> None:
    path = tmp_path / "b.json"
    _accept(path, _figures())
    document = _document(path)
    edit(document)
    before = _write(path, document)
    with pytest.raises(BaselineCorrupt) as info:
        load_baselines(path, KEY, REGISTRY)
    assert str(info.value) == (
        f"Expected {where} in {path} to be {expected}. Received: {where}={received}. Fix the "
        "file by hand, or restore it from version control; the file was not changed."
    )
    with pytest.raises(BaselineCorrupt):
        _accept(path, _figures(scale=2.0))
    assert path.read_bytes() == before


def test_schema_version_of_the_wrong_type(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    _accept(path, _figures())
    document = _document(path)
    document["schema_version"] = "3"
    _write(path, document)
    with pytest.raises(BaselineCorrupt) as info:
        load_baselines(path, KEY, REGISTRY)
    assert str(info.value) == (
        f"Expected schema_version in {path} to be a whole number of at least 1. Received: "
        "schema_version='3'. Fix the file by hand, or restore it from version control; the "
        "file was not changed."
    )


def test_bad_hardware_block_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    _accept(path, _figures())
    document = _document(path)
    document["hardware"]["device_kind"] = "tpu"
    _write(path, document)
    with pytest.raises(BaselineCorrupt) as info:
        load_baselines(path, KEY, REGISTRY)
    assert str(info.value).startswith(
        "Expected hardware in "
        f"{path} to be a valid hardware block (Expected device_kind to be 'cpu' or 'gpu'. "
        "Received: device_kind='tpu')."
    )


def test_default_accepted_by_is_user_at_host() -> None:
    user, at, host = default_accepted_by().partition("@")
    assert at == "@" and user and host


# --------------------------------------------------------------------------- properties

_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**6), max_value=10**6)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
)
JSON = st.recursive(
    _SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
_HARDWARE = {
    "device_kind": KEY.device_kind,
    "device_model": KEY.device_model,
    "device_count": KEY.device_count,
    "precision": KEY.precision,
}


def _maybe(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly the valid value, sometimes any JSON in its place."""
    return st.one_of(valid, valid, valid, JSON)


def _stats_block(samples: st.SearchStrategy[float]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "center": st.floats(min_value=0.001, max_value=1000.0),
            "spread": st.floats(min_value=0.0, max_value=10.0),
            "count": st.integers(min_value=1, max_value=10),
            "samples": st.lists(samples, min_size=1, max_size=5),
        }
    )


_SECONDS = st.floats(min_value=1e-4, max_value=1e4)
_FRACTION = st.floats(min_value=0.0, max_value=1.0)
_TEXT = st.text(max_size=10)
_UNKNOWN_KEYS = st.text(min_size=1, max_size=6).map(lambda name: f"x_{name}")
_SOFTWARE = st.dictionaries(_TEXT, _TEXT, max_size=3)
_METRICS = st.fixed_dictionaries(
    {},
    optional={
        "epoch_seconds": _stats_block(_SECONDS),
        "accuracy": _stats_block(_FRACTION),
        "gpu_memory": JSON,  # another tool's metric: anything goes
    },
)
_TOLERANCES = st.none() | st.fixed_dictionaries(
    {},
    optional={
        "epoch_seconds": st.floats(min_value=0.01, max_value=5.0),
        "accuracy": st.floats(min_value=0.001, max_value=0.5),
        "gpu_memory": JSON,
    },
)
_HISTORY = st.lists(
    st.fixed_dictionaries(
        {
            "metrics": st.dictionaries(_TEXT, st.floats(min_value=-1e6, max_value=1e6), max_size=3),
            "software": _SOFTWARE,
            "accepted_at": _TEXT,
            "accepted_by": _TEXT,
        },
        optional={"reason": st.none() | _TEXT, "x_note": JSON},
    ),
    max_size=2,
)
VALID_ENTRY = st.fixed_dictionaries(
    {
        "model": _TEXT,
        "dataset": _TEXT,
        "batch_size": st.integers(min_value=1, max_value=4096),
        "data_source": st.sampled_from(["real", "synthetic"]),
        "metrics": _METRICS,
        "software": _SOFTWARE,
        "accepted_at": _TEXT,
        "accepted_by": _TEXT,
    },
    optional={
        "tolerances": _TOLERANCES,
        "reason": st.none() | _TEXT,
        "history": _HISTORY,
        "x_ticket": JSON,
    },
)
VALID_V3 = st.fixed_dictionaries(
    {
        "schema_version": st.just(4),
        "hardware": st.just(_HARDWARE),
        "entries": st.dictionaries(_TEXT, VALID_ENTRY, max_size=3),
    },
    optional={"x_owner": JSON},
)


def _mangled_entry() -> st.SearchStrategy[Any]:
    """An entry of any version with some fields replaced by arbitrary JSON."""
    return _maybe(
        st.fixed_dictionaries(
            {},
            optional={
                "model": _maybe(_TEXT),
                "dataset": _maybe(_TEXT),
                "batch_size": _maybe(st.integers(min_value=1, max_value=512)),
                "data_source": _maybe(st.just("real")),
                "metrics": _maybe(
                    st.dictionaries(
                        st.sampled_from(["epoch_seconds", "accuracy", "epoch_time", "x"]),
                        _maybe(_stats_block(_maybe(_SECONDS))),
                        max_size=2,
                    )
                ),
                "epoch_seconds": _maybe(_SECONDS | _stats_block(_SECONDS)),
                "images_per_second": _maybe(_SECONDS),
                "accuracy": _maybe(st.none() | _FRACTION),
                "tolerances": _maybe(
                    st.dictionaries(
                        st.sampled_from(["epoch_seconds", "epoch_time", "accuracy", "speed"]),
                        JSON,
                        max_size=3,
                    )
                ),
                "software": _maybe(_SOFTWARE),
                "accepted_at": _maybe(_TEXT),
                "accepted_by": _maybe(_TEXT),
                "reason": JSON,
                "history": _maybe(st.lists(_maybe(st.dictionaries(_TEXT, JSON)), max_size=2)),
            },
        )
    )


ANY_DOCUMENT = st.one_of(
    JSON,
    st.fixed_dictionaries(
        {},
        optional={
            "schema_version": _maybe(st.sampled_from([1, 2, 3, 4])),
            "hardware": _maybe(st.sampled_from([_HARDWARE, {**_HARDWARE, "device_count": 4}])),
            "entries": _maybe(st.dictionaries(_TEXT, _mangled_entry(), max_size=3)),
            "x_owner": JSON,
        },
    ),
    VALID_V3,
)


def _named_error_or_file(path: Path, call: Callable[[], object]) -> object:
    try:
        result = call()
    except BaselineError as error:
        assert str(path) in str(error)
        event(type(error).__name__)
        return error
    event("loaded" if result is not None else "missing")
    return result


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(document=ANY_DOCUMENT)
def test_any_json_loads_or_raises_a_baseline_error(
    tmp_path_factory: pytest.TempPathFactory, document: Any
) -> None:
    path = tmp_path_factory.getbasetemp() / "property" / "b.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(document), encoding="utf-8")
    result = _named_error_or_file(path, lambda: load_baselines(path, KEY, REGISTRY))
    assert isinstance(result, (BaselineFile, BaselineError))


@settings(max_examples=100, deadline=None)
@given(content=st.binary(max_size=40) | st.text(max_size=40).map(str.encode))
def test_any_bytes_load_or_raise_a_baseline_error(content: bytes) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "b.json"
        # Bytes that are not UTF-8 are a read error, not a crash.
        path.write_bytes(content)
        result = _named_error_or_file(path, lambda: load_baselines(path, KEY, REGISTRY))
        assert isinstance(result, (BaselineFile, BaselineError))


@settings(max_examples=200, deadline=None)
@given(document=VALID_V3)
def test_valid_file_round_trips_unchanged(document: dict[str, Any]) -> None:
    text = serialize(document)
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "b.json"
        path.write_text(text, encoding="utf-8")
        loaded = _load(path)
        assert loaded.schema_version_read == 4
        assert set(loaded.entries) == set(document["entries"])
        # Accepting nothing writes the same text back, unknown fields included.
        assert merged_document(path, text, KEY, [], REGISTRY, PROVENANCE) == text
        rewritten = update_baselines(path, KEY, [], REGISTRY, reason=None, who="x@y", now=NOW)
        assert path.read_text(encoding="utf-8") == text
        assert rewritten == loaded
        # Accepting a new entry leaves every other one as it was.
        node = "new.py::added"
        if node not in document["entries"]:
            _accept(path, _figures(node))
            after = _document(path)
            before = json.loads(text)
            assert {k: v for k, v in after["entries"].items() if k != node} == before["entries"]
            assert {k: v for k, v in after.items() if k != "entries"} == {
                k: v for k, v in before.items() if k != "entries"
            }


def test_round_trip_example_with_every_optional_field(tmp_path: Path) -> None:
    # One hand-written instance of the property above, so a failure reads plainly.
    document = {
        "schema_version": 4,
        "hardware": dict(_HARDWARE),
        "x_owner": {"team": ["perf"]},
        "entries": {
            "t.py::a": {
                "model": "lenet5",
                "dataset": "mnist",
                "batch_size": 128,
                "data_source": "real",
                "metrics": {
                    "epoch_seconds": {"center": 1.0, "spread": 0.1, "count": 2, "samples": [1, 1]},
                    "gpu_memory": {"p50": 800},
                },
                "tolerances": {"epoch_seconds": 0.25, "gpu_memory": "10%"},
                "software": {},
                "accepted_at": "2026-01-05T10:30:15+00:00",
                "accepted_by": "ana@build-3",
                "reason": None,
                "history": [
                    {
                        "metrics": {"epoch_seconds": 1.1},
                        "software": {},
                        "accepted_at": "a",
                        "accepted_by": "b",
                        "x_note": 1,
                    }
                ],
            }
        },
    }
    text = serialize(copy.deepcopy(document))
    path = tmp_path / "b.json"
    path.write_text(text, encoding="utf-8")
    update_baselines(path, KEY, [], REGISTRY, reason=None, who="x@y", now=NOW)
    assert path.read_text(encoding="utf-8") == text
    assert json.loads(text) == document
