"""Unit tests for baseline files: layout, round trips, migration and failures."""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from pytest_cnnperf.baselines import (
    SCHEMA_VERSION,
    Accepted,
    BaselineCorrupt,
    BaselineHardwareMismatch,
    BaselineTooNew,
    BaselineWriteError,
    HardwareKey,
    Measurement,
    SampleSummary,
    Tolerances,
    baseline_path,
    default_accepted_by,
    load_baselines,
    store,
    update_baselines,
)
from pytest_cnnperf.baselines.store import migrate_1_to_2, serialize

KEY = HardwareKey("cpu", "Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz", 2, "float32")
OTHER_KEY = HardwareKey("cpu", "Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz", 4, "float32")
NOW = datetime(2026, 1, 5, 10, 30, 15, 123456, tzinfo=timezone.utc)
SOFTWARE = {"python": "3.11.7", "tensorflow": "2.20.0", "keras": "3.15.1"}

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


def _measurement(node_id: str = "t.py::a", scale: float = 1.0, **changes: Any) -> Measurement:
    epochs = tuple(scale * x for x in (1.0, 1.05, 0.97))
    values: dict[str, Any] = {
        "node_id": node_id,
        "model": "lenet5",
        "dataset": "mnist",
        "batch_size": 128,
        "epoch_seconds": epochs,
        "images_per_second": tuple(6000 / x for x in epochs),
        "accuracy": 0.98,
        "data_source": "real",
    }
    values.update(changes)
    return Measurement(**values)


def _accept(
    path: Path,
    *measurements: Measurement,
    reason: str | None = "first",
    now: datetime = NOW,
    software: dict[str, str] = SOFTWARE,
) -> store.BaselineFile:
    return update_baselines(
        path,
        KEY,
        [Accepted(m, Tolerances(), software) for m in measurements],
        reason=reason,
        who="ana@build-3",
        now=now,
    )


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def test_baseline_path_uses_the_slug(tmp_path: Path) -> None:
    assert baseline_path(tmp_path, KEY) == (
        tmp_path / "cpu-intel-xeon-platinum-8375c-2c-float32.json"
    )


def test_missing_file_loads_as_none(tmp_path: Path) -> None:
    assert load_baselines(tmp_path / "none.json", KEY) is None


def test_round_trip(tmp_path: Path) -> None:
    path = baseline_path(tmp_path / "baselines", KEY)
    written = _accept(path, _measurement("t.py::a"), _measurement("t.py::b", 2.0, accuracy=None))
    loaded = load_baselines(path, KEY)
    assert loaded is not None
    assert loaded == written
    assert loaded.hardware == KEY
    assert loaded.warnings == ()
    entry = loaded.entries["t.py::a"]
    # Stored to six significant digits: 1.4826 * 0.03 = 0.044478.
    assert entry.epoch_seconds == SampleSummary(1.0, 0.044478, 3, (1.0, 1.05, 0.97))
    assert entry.images_per_second.center == pytest.approx(6000.0)
    assert entry.accuracy == 0.98
    assert entry.tolerances == Tolerances()
    assert entry.software == SOFTWARE
    assert (entry.accepted_at, entry.accepted_by, entry.reason) == (
        "2026-01-05T10:30:15+00:00",
        "ana@build-3",
        "first",
    )
    assert entry.history == ()
    assert loaded.entries["t.py::b"].accuracy is None
    assert loaded.entries["t.py::b"].epoch_seconds.center == pytest.approx(2.0)


def test_file_layout_is_versioned_sorted_and_indented(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    _accept(path, _measurement())
    text = path.read_text(encoding="utf-8")
    document = json.loads(text)
    assert document["schema_version"] == SCHEMA_VERSION == 2
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
        "accuracy",
        "batch_size",
        "data_source",
        "dataset",
        "epoch_seconds",
        "history",
        "images_per_second",
        "model",
        "reason",
        "software",
        "tolerances",
    ]
    assert entry["epoch_seconds"]["samples"] == [1.0, 1.05, 0.97]
    assert entry["tolerances"] == {"accuracy": 0.02, "epoch_time": 0.25, "images_per_second": 0.25}


def test_floats_are_rounded_to_six_significant_digits() -> None:
    text = serialize({"a": 1.23456789, "b": [123456.789, 0.000123456789], "c": {"d": 2.0}, "e": 3})
    assert json.loads(text) == {"a": 1.23457, "b": [123457.0, 0.000123457], "c": {"d": 2.0}, "e": 3}


def test_stored_throughput_is_rounded(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    _accept(path, _measurement())
    samples = json.loads(path.read_text())["entries"]["t.py::a"]["images_per_second"]["samples"]
    assert samples == [6000.0, 5714.29, 6185.57]


def test_second_accept_moves_the_old_values_to_history(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    _accept(path, _measurement(), _measurement("t.py::keep"))
    kept_before = json.loads(path.read_text())["entries"]["t.py::keep"]
    later = NOW + timedelta(days=3)
    new_software = {**SOFTWARE, "tensorflow": "2.21.0"}
    result = _accept(
        path, _measurement(scale=1.3), reason="TF upgrade", now=later, software=new_software
    )
    entry = result.entries["t.py::a"]
    assert entry.epoch_seconds.center == pytest.approx(1.3)
    assert entry.reason == "TF upgrade"
    assert entry.software == new_software
    assert len(entry.history) == 1
    old = entry.history[0]
    assert old.epoch_seconds == 1.0
    assert old.images_per_second == 6000.0
    assert old.accuracy == 0.98
    assert old.software == SOFTWARE
    assert (old.accepted_at, old.accepted_by, old.reason) == (
        "2026-01-05T10:30:15+00:00",
        "ana@build-3",
        "first",
    )
    # Entries not accepted again are byte-for-byte the same.
    assert json.loads(path.read_text())["entries"]["t.py::keep"] == kept_before
    third = _accept(path, _measurement(scale=1.1), reason=None, now=later + timedelta(days=1))
    assert [h.epoch_seconds for h in third.entries["t.py::a"].history] == [1.0, 1.3]
    assert third.entries["t.py::a"].reason is None


def test_accepted_at_is_stored_in_utc(tmp_path: Path) -> None:
    tz = timezone(timedelta(hours=2))
    result = _accept(tmp_path / "b.json", _measurement(), now=datetime(2026, 3, 1, 1, 0, tzinfo=tz))
    assert result.entries["t.py::a"].accepted_at == "2026-02-28T23:00:00+00:00"


def test_duplicate_node_ids_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError) as info:
        _accept(tmp_path / "b.json", _measurement(), _measurement())
    assert str(info.value) == (
        "Expected each node id at most once in the accepted figures. "
        "Received: node_id='t.py::a' 2 times"
    )
    assert not (tmp_path / "b.json").exists()


def test_failing_replace_keeps_the_old_file_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "b.json"
    _accept(path, _measurement())
    before = path.read_bytes()

    def broken_replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(BaselineWriteError) as info:
        _accept(path, _measurement(scale=2.0))
    assert str(info.value) == (
        f"Could not write the baseline file {path}: Input/output error. Expected the "
        f"directory {tmp_path} to be writable. Pass --cnnperf-baseline-dir with a writable "
        f"directory, or fix the permissions, and accept again; {path} was left unchanged."
    )
    # The figures that could not be stored are not lost: the caller gets the text.
    assert json.loads(info.value.document)["entries"]["t.py::a"]["epoch_seconds"]["center"] == 2.0
    assert path.read_bytes() == before
    assert _leftovers(tmp_path) == []


def test_crash_while_writing_keeps_the_old_file_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "b.json"
    _accept(path, _measurement())
    before = path.read_bytes()

    def interrupted(fd: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _accept(path, _measurement(scale=2.0))
    assert path.read_bytes() == before
    assert _leftovers(tmp_path) == []


def test_failing_serializer_keeps_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "b.json"
    _accept(path, _measurement())
    before = path.read_bytes()

    def broken_serialize(document: object) -> str:
        raise TypeError("Object of type Fraction is not JSON serializable")

    monkeypatch.setattr(store, "serialize", broken_serialize)
    with pytest.raises(TypeError):
        _accept(path, _measurement(scale=2.0))
    assert path.read_bytes() == before
    assert _leftovers(tmp_path) == []


def test_unwritable_directory_names_it_and_the_option(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Tests may run as root, where chmod does not stop writes: refuse the
    # temporary file the way a read-only directory would.
    path = tmp_path / "b.json"
    _accept(path, _measurement())
    before = path.read_bytes()
    real_open = os.open

    def read_only_open(file: str | os.PathLike[str], flags: int, mode: int = 0o777) -> int:
        if os.fspath(file).endswith(".tmp"):
            raise PermissionError(13, "Permission denied", os.fspath(file))
        return real_open(file, flags, mode)

    monkeypatch.setattr(os, "open", read_only_open)
    with pytest.raises(BaselineWriteError) as info:
        _accept(path, _measurement(scale=2.0))
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
        _accept(path, _measurement())
    assert str(info.value).startswith(f"Could not write the baseline file {path}: ")
    assert "Pass --cnnperf-baseline-dir with a writable directory" in str(info.value)
    assert blocker.read_text() == "not a directory"


def test_file_mode_is_kept_on_rewrite(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    _accept(path, _measurement())
    path.chmod(0o640)
    _accept(path, _measurement(scale=1.2))
    assert path.stat().st_mode & 0o777 == 0o640


def _write(path: Path, document: dict[str, Any]) -> bytes:
    path.write_text(json.dumps(document, indent=2), encoding="utf-8")
    return path.read_bytes()


def test_newer_schema_is_refused_and_never_rewritten(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    _accept(path, _measurement())
    document = json.loads(path.read_text())
    document["schema_version"] = 3
    before = _write(path, document)
    message = (
        f"The baseline file {path} has schema_version 3, but this pytest-cnnperf reads "
        "schema versions up to 2. Upgrade pytest-cnnperf to use it; the file was not changed."
    )
    with pytest.raises(BaselineTooNew) as info:
        load_baselines(path, KEY)
    assert str(info.value) == message
    with pytest.raises(BaselineTooNew):
        _accept(path, _measurement(scale=2.0))
    assert path.read_bytes() == before


def test_stored_v1_file_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    path.write_text(STORED_V1, encoding="utf-8")
    loaded = load_baselines(path, KEY)
    assert loaded is not None
    assert loaded.schema_version_read == 1
    assert loaded.warnings == (
        f"The baseline file {path} uses schema version 1; it was read as version 2 and will "
        "be written as version 2 when figures are next accepted.",
        f"The baseline file {path} has fields this version of pytest-cnnperf does not know: "
        "comment. They are kept unchanged when the file is rewritten.",
    )
    entry = loaded.entries[V1_NODE]
    assert entry.epoch_seconds == SampleSummary(4.21, 0.0, 1, (4.21,))
    assert entry.images_per_second == SampleSummary(2375.3, 0.0, 1, (2375.3,))
    assert entry.tolerances is None
    assert entry.reason is None
    assert entry.history == ()
    assert entry.software == {"python": "3.11.7", "tensorflow": "2.19.0"}
    # Reading never rewrites.
    assert path.read_text(encoding="utf-8") == STORED_V1


def test_migrate_1_to_2_function() -> None:
    migrated = migrate_1_to_2(json.loads(STORED_V1))
    entry = migrated["entries"][V1_NODE]
    assert migrated["schema_version"] == 2
    assert entry["epoch_seconds"] == {"center": 4.21, "spread": 0.0, "count": 1, "samples": [4.21]}
    assert (entry["tolerances"], entry["reason"], entry["history"]) == (None, None, [])
    assert migrated["comment"] == "recorded on the old CI runner"
    # The input is not modified.
    assert json.loads(STORED_V1)["entries"][V1_NODE]["epoch_seconds"] == 4.21


def test_accept_over_a_v1_file_writes_v2_with_history(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    path.write_text(STORED_V1, encoding="utf-8")
    result = _accept(path, _measurement(V1_NODE))
    document = json.loads(path.read_text())
    assert document["schema_version"] == 2
    assert document["comment"] == "recorded on the old CI runner"
    history = result.entries[V1_NODE].history
    assert [(h.epoch_seconds, h.accepted_by, h.reason) for h in history] == [
        (4.21, "ana@build-3", None)
    ]


def test_unknown_fields_are_kept_and_reported(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    _accept(path, _measurement(), _measurement("t.py::b"))
    document = json.loads(path.read_text())
    document["owner"] = "perf team"
    document["entries"]["t.py::a"]["ticket"] = "PERF-12"
    document["entries"]["t.py::a"]["epoch_seconds"]["p90"] = 1.05
    document["entries"]["t.py::b"]["gpu_memory_mb"] = 812
    _write(path, document)
    loaded = load_baselines(path, KEY)
    assert loaded is not None
    assert loaded.warnings == (
        f"The baseline file {path} has fields this version of pytest-cnnperf does not know: "
        "owner, entries['t.py::a'].ticket, entries['t.py::a'].epoch_seconds.p90, "
        "entries['t.py::b'].gpu_memory_mb. They are kept unchanged when the file is rewritten.",
    )
    _accept(path, _measurement(scale=1.5))
    after = json.loads(path.read_text())
    assert after["owner"] == "perf team"
    assert after["entries"]["t.py::a"]["ticket"] == "PERF-12"
    assert after["entries"]["t.py::b"]["gpu_memory_mb"] == 812
    # The statistics block is recomputed from the new samples.
    assert "p90" not in after["entries"]["t.py::a"]["epoch_seconds"]


def test_hardware_mismatch_names_both(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    _accept(path, _measurement())
    before = path.read_bytes()
    message = (
        f"Expected the baseline file {path} to hold baselines for cpu "
        f"'{KEY.device_model}' x4, float32. Received: hardware=cpu '{KEY.device_model}' x2, "
        "float32. The file was probably copied or renamed from another machine: give it the "
        "name of its own hardware key, or move it out of the baseline directory to record "
        "new baselines here."
    )
    with pytest.raises(BaselineHardwareMismatch) as info:
        load_baselines(path, OTHER_KEY)
    assert str(info.value) == message
    with pytest.raises(BaselineHardwareMismatch):
        update_baselines(
            path,
            OTHER_KEY,
            [Accepted(_measurement(), Tolerances())],
            reason=None,
            who="x@y",
            now=NOW,
        )
    assert path.read_bytes() == before


def test_invalid_json_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    path.write_text('{"schema_version": 2,\n  "hardware": }\n', encoding="utf-8")
    with pytest.raises(BaselineCorrupt) as info:
        load_baselines(path, KEY)
    assert str(info.value) == (
        f"The baseline file {path} is not valid JSON: Expecting value at line 2, column 15. "
        "Fix the file by hand or restore it from version control; the file was not changed."
    )
    with pytest.raises(BaselineCorrupt):
        _accept(path, _measurement())
    assert path.read_text() == '{"schema_version": 2,\n  "hardware": }\n'


def test_nan_is_not_json(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    path.write_text('{"schema_version": NaN}', encoding="utf-8")
    with pytest.raises(BaselineCorrupt) as info:
        load_baselines(path, KEY)
    assert str(info.value) == (
        f"The baseline file {path} is not valid JSON: NaN is not a number JSON allows. Fix "
        "the file by hand or restore it from version control; the file was not changed."
    )


def test_binary_file_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(BaselineCorrupt) as info:
        load_baselines(path, KEY)
    assert str(info.value).startswith(f"Could not read the baseline file {path}: ")
    assert str(info.value).endswith("Check its permissions and encoding (UTF-8 JSON is expected).")


@pytest.mark.parametrize(
    ("edit", "where", "expected", "received"),
    [
        (
            lambda d: d["entries"]["t.py::a"].__setitem__("batch_size", "128"),
            "entries['t.py::a'].batch_size",
            "a whole number of at least 1",
            "'128'",
        ),
        (
            lambda d: d["entries"]["t.py::a"]["epoch_seconds"].__setitem__("samples", []),
            "entries['t.py::a'].epoch_seconds.samples",
            "a non-empty list of numbers",
            "[]",
        ),
        (
            lambda d: d["entries"]["t.py::a"]["epoch_seconds"]["samples"].__setitem__(1, -1),
            "entries['t.py::a'].epoch_seconds.samples[1]",
            "a number above 0",
            "-1",
        ),
        (
            lambda d: d["entries"]["t.py::a"].__setitem__("accuracy", 98.1),
            "entries['t.py::a'].accuracy",
            "a number from 0 to 1, or null",
            "98.1",
        ),
        (
            lambda d: d["entries"]["t.py::a"]["software"].__setitem__("keras", 3),
            "entries['t.py::a'].software.keras",
            "a string",
            "3",
        ),
        (
            lambda d: d.__setitem__("entries", []),
            "entries",
            "a JSON object",
            "[]",
        ),
        (
            lambda d: d.__setitem__("schema_version", "2"),
            "schema_version",
            "a whole number of at least 1",
            "'2'",
        ),
        (
            lambda d: d["entries"]["t.py::a"]["tolerances"].pop("accuracy"),
            "entries['t.py::a'].tolerances",
            "an object with valid accuracy, epoch_time, images_per_second",
            "{'epoch_time': 0.25, 'images_per_second': 0.25}",
        ),
    ],
)
def test_wrong_types_name_the_field(
    tmp_path: Path, edit: Any, where: str, expected: str, received: str
) -> None:
    path = tmp_path / "b.json"
    _accept(path, _measurement())
    document = json.loads(path.read_text())
    edit(document)
    before = _write(path, document)
    with pytest.raises(BaselineCorrupt) as info:
        load_baselines(path, KEY)
    assert str(info.value) == (
        f"Expected {where} in {path} to be {expected}. Received: {where}={received}. Fix the "
        "file by hand, or restore it from version control; the file was not changed."
    )
    with pytest.raises(BaselineCorrupt):
        _accept(path, _measurement(scale=2.0))
    assert path.read_bytes() == before


def test_bad_hardware_block_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    _accept(path, _measurement())
    document = json.loads(path.read_text())
    document["hardware"]["device_kind"] = "tpu"
    _write(path, document)
    with pytest.raises(BaselineCorrupt) as info:
        load_baselines(path, KEY)
    assert str(info.value).startswith(
        "Expected hardware in "
        f"{path} to be a valid hardware block (Expected device_kind to be 'cpu' or 'gpu'. "
        "Received: device_kind='tpu')."
    )


def test_default_accepted_by_is_user_at_host() -> None:
    user, at, host = default_accepted_by().partition("@")
    assert at == "@" and user and host
