"""Unit tests of the checks and messages for bad paths, failed writes and interruptions.

No TensorFlow, no pytester. The unwritable-directory test drops root's
privileges in a child process (root ignores file permissions), the way
tests/test_atomicfile.py does.
"""

from __future__ import annotations

import errno
import json
import math
import multiprocessing
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from multiprocessing.connection import Connection
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from pytest_cnnperf import accept
from pytest_cnnperf.accept import interrupted_message, write_baselines
from pytest_cnnperf.baselines import BaselineWriteError, HardwareKey, Verdict
from pytest_cnnperf.config import CnnperfConfig, baseline_dir_problem, results_file_problem
from pytest_cnnperf.environment import EnvironmentSnapshot
from pytest_cnnperf.jsonreport import JsonReport
from pytest_cnnperf.metrics import Metric, MetricRegistry
from pytest_cnnperf.outcome import TestOutcome
from pytest_cnnperf.results import EpochResult, TrainResult
from pytest_cnnperf.session import SessionReport

#: The uid and gid a child started as root drops to, so that permissions apply to it.
NOBODY = 65534
SNAPSHOT = EnvironmentSnapshot(
    hardware=HardwareKey("cpu", "Test CPU", 2, "float32"), software={"python": "3.11.7"}
)


def _cfg(root: Path, **changes: Any) -> CnnperfConfig:
    settings: dict[str, Any] = {
        "gpu": False,
        "device_index": None,
        "epochs": 3,
        "seed": 0,
        "deterministic": False,
        "precision": "float32",
        "json_path": None,
        "data_dir": None,
        "data_mode": "auto",
        "offline": False,
        "rootdir": root,
        "baseline_dir": root / "baselines",
        "compare_mode": "fail",
        "repeats": 1,
        "update_baselines": True,
        "update_reason": None,
        "require_baseline": False,
        "strict": False,
    }
    return CnnperfConfig(**{**settings, **changes})


def _run() -> TrainResult:
    epochs = tuple(
        EpochResult(i + 1, 1.0 + i, 10, 1000, 0.5, {"accuracy": 0.5}, i == 0) for i in range(3)
    )
    return TrainResult("lenet5", "mnist", "real", 61706, 100, epochs, 0.97, 2000, "/device:CPU:0")


def _outcome(node_id: str, verdict: Verdict, *, trained: bool = True) -> TestOutcome:
    return TestOutcome(node_id, runs=(_run(),) if trained else (), verdict=verdict)


# --------------------------------------------------------------------------- paths at start


def test_a_results_file_below_missing_directories_is_fine(tmp_path: Path) -> None:
    assert results_file_problem(tmp_path / "new" / "deeper" / "out.json") is None
    assert not (tmp_path / "new").exists()
    assert baseline_dir_problem(tmp_path / "new" / "baselines", writing=True) is None
    assert not (tmp_path / "new").exists()


def test_the_write_check_leaves_no_file_behind(tmp_path: Path) -> None:
    assert results_file_problem(tmp_path / "out.json") is None
    assert baseline_dir_problem(tmp_path, writing=True) is None
    assert os.listdir(tmp_path) == []


def test_a_results_file_below_a_regular_file(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("not a directory\n")
    path = tmp_path / "afile" / "sub" / "out.json"
    assert results_file_problem(path) == (
        f"expected a file, got {path}, below {tmp_path / 'afile'}, which is a file"
    )


def test_a_results_file_that_is_a_directory(tmp_path: Path) -> None:
    assert results_file_problem(tmp_path) == (
        f"expected a regular file, got {tmp_path}, which is a directory"
    )


@pytest.mark.skipif(sys.platform == "win32", reason="no named pipes in the file system")
def test_a_results_file_that_is_a_pipe(tmp_path: Path) -> None:
    # Written atomically, the results file would replace the pipe, not write to it.
    pipe = tmp_path / "fifo"
    os.mkfifo(pipe)
    assert results_file_problem(pipe) == (
        f"expected a regular file, got {pipe}, which is a device, pipe or socket"
    )


def test_a_baseline_directory_that_is_a_file(tmp_path: Path) -> None:
    path = tmp_path / "baselines"
    path.write_text("not a directory\n")
    for writing in (False, True):
        assert baseline_dir_problem(path, writing=writing) == (
            f"expected a directory, got {path}, which is a file"
        )
    below = path / "cpu"
    assert baseline_dir_problem(below, writing=False) == (
        f"expected a directory, got {below}, below {path}, which is a file"
    )


@pytest.fixture
def read_only_directory() -> Iterator[Path]:
    """A directory nobody but root may write, below directories everybody may enter.

    Not under tmp_path: pytest makes that private to the user running it.
    """
    base = Path(tempfile.mkdtemp(prefix="cnnperf-reliability-"))
    base.chmod(0o755)
    directory = base / "results"
    directory.mkdir()
    directory.chmod(0o555)
    yield directory
    directory.chmod(0o755)
    shutil.rmtree(base)


def problems_unprivileged(directory: str, report: Connection) -> None:
    """Send the path checks' answers for ``directory``, checked as an unprivileged user."""
    if os.geteuid() == 0:
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)
    path = Path(directory)
    report.send(
        (
            results_file_problem(path / "out.json"),
            baseline_dir_problem(path / "baselines", writing=True),
            baseline_dir_problem(path / "baselines", writing=False),
        )
    )


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions and a forked child")
def test_a_directory_where_no_file_can_be_created(read_only_directory: Path) -> None:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["pytest_cnnperf.config"])
    reader, writer = context.Pipe(duplex=False)
    child = context.Process(target=problems_unprivileged, args=(str(read_only_directory), writer))
    child.start()
    writer.close()
    try:
        assert reader.poll(60), "the child never reported"
        results, baselines_writing, baselines_reading = reader.recv()
    finally:
        child.join(60)
    assert results == (
        "expected a file in a directory where files can be created, got "
        f"{read_only_directory / 'out.json'}: creating a file in {read_only_directory} failed "
        "(Permission denied)"
    )
    assert baselines_writing == (
        "expected a directory where files can be created, got "
        f"{read_only_directory / 'baselines'}: creating a file in {read_only_directory} failed "
        "(Permission denied); --cnnperf-update-baselines writes the baseline file there"
    )
    # Comparing only reads the baseline directory.
    assert baselines_reading is None
    assert os.listdir(read_only_directory) == []


# --------------------------------------------------------------------------- accepting


def test_nothing_accepted_when_every_test_that_trained_failed(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    registry = MetricRegistry()
    path = tmp_path / "baselines" / f"{SNAPSHOT.hardware.slug()}.json"
    one = write_baselines(
        [_outcome("a.py::t1", Verdict.FAILED), _outcome("a.py::t2", Verdict.FAILED, trained=False)],
        SNAPSHOT,
        cfg,
        registry,
    )
    assert one.messages == [
        "--cnnperf-update-baselines: nothing was accepted: the 1 test that trained failed "
        f"(see above); {path} was left as it was."
    ]
    two = write_baselines(
        [_outcome("a.py::t1", Verdict.FAILED), _outcome("a.py::t2", Verdict.FAILED)],
        SNAPSHOT,
        cfg,
        registry,
    )
    assert two.messages == [
        "--cnnperf-update-baselines: nothing was accepted: the 2 tests that trained failed "
        f"(see above); {path} was left as it was."
    ]
    none = write_baselines(
        [_outcome("a.py::t2", Verdict.FAILED, trained=False)], SNAPSHOT, cfg, registry
    )
    assert none.messages == [
        f"--cnnperf-update-baselines: no test completed with figures; {path} was left as it was."
    ]
    assert not path.parent.exists()


def test_figures_that_cannot_be_saved_anywhere_are_said_lost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unwritable(*args: object, **kwargs: object) -> None:
        raise BaselineWriteError("Could not write the baseline file B.", document="{}")

    def full_disk(*args: object, **kwargs: object) -> tuple[int, str]:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(accept, "update_baselines", unwritable)
    monkeypatch.setattr(tempfile, "mkstemp", full_disk)
    result = write_baselines(
        [_outcome("a.py::t", Verdict.NEW)], SNAPSHOT, _cfg(tmp_path), MetricRegistry()
    )
    assert not result.ok
    assert result.messages == [
        "Could not write the baseline file B.\nSaving the figures to a temporary file failed "
        "too (No space left on device); they are lost."
    ]


def test_the_accept_command_names_a_backend_other_than_tensorflow(tmp_path: Path) -> None:
    from pytest_cnnperf.accept import accept_command

    assert accept_command(_cfg(tmp_path, backend="jax"), "a.py::t") == (
        "pytest a.py::t --cnnperf-update-baselines --cnnperf-backend=jax "
        '--cnnperf-update-reason "<why the figures changed>"'
    )
    assert "--cnnperf-backend" not in accept_command(_cfg(tmp_path), "a.py::t")


def test_an_interrupted_session_names_the_tests_to_accept(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    assert interrupted_message([_outcome("a.py::t", Verdict.FAILED)], cfg) == (
        "The session was interrupted: no baseline was updated, and no test had finished "
        "with figures."
    )
    assert interrupted_message([_outcome("a.py::t[x]", Verdict.NEW)], cfg) == (
        "The session was interrupted: no baseline was updated. 1 test had finished with "
        "figures; to accept it, run it again with:\n"
        "  pytest 'a.py::t[x]' --cnnperf-update-baselines "
        '--cnnperf-update-reason "<why the figures changed>"\n'
        "(--cnnperf-update-interrupted accepts the tests that finished when a session is "
        "interrupted.)"
    )
    outcomes = [_outcome("a.py::t1", Verdict.PASS), _outcome("b.py::t2", Verdict.REGRESSED)]
    other = _cfg(tmp_path, baseline_dir=tmp_path / "elsewhere")
    assert interrupted_message(outcomes, other) == (
        "The session was interrupted: no baseline was updated. 2 tests had finished with "
        "figures; to accept them, run them again with:\n"
        f"  pytest a.py::t1 b.py::t2 --cnnperf-update-baselines "
        f"--cnnperf-baseline-dir={tmp_path / 'elsewhere'} "
        '--cnnperf-update-reason "<why the figures changed>"\n'
        "(--cnnperf-update-interrupted accepts the tests that finished when a session is "
        "interrupted.)"
    )


# --------------------------------------------------------------------------- the results file


def _json_report(tmp_path: Path, path: Path, *, add: dict[str, Any] | None = None) -> JsonReport:
    def update_json(document: dict[str, Any], config: object) -> None:
        document.update(add or {})

    config = SimpleNamespace(hook=SimpleNamespace(pytest_cnnperf_update_json=update_json))
    return JsonReport(cast(pytest.Config, config), _cfg(tmp_path), path)


def _session_report(
    outcomes: tuple[TestOutcome, ...], interrupted: bool, registry: MetricRegistry | None = None
) -> SessionReport:
    session = SimpleNamespace(snapshot=SNAPSHOT, registry=registry or MetricRegistry())
    return SessionReport(outcomes=outcomes, interrupted=interrupted, session=cast(Any, session))


def test_an_interrupted_session_without_outcomes_keeps_the_results_file(tmp_path: Path) -> None:
    path = tmp_path / "out.json"
    path.write_text('{"earlier": "results"}\n')
    report = _session_report((), interrupted=True)
    _json_report(tmp_path, path).pytest_cnnperf_session_finish(report)
    assert path.read_text() == '{"earlier": "results"}\n'
    assert report.notes == [
        "The session was interrupted before any cnnperf test finished: the results file "
        f"{path} was left as it was."
    ]
    assert report.errors == []


def test_an_interrupted_session_without_outcomes_writes_a_new_results_file(
    tmp_path: Path,
) -> None:
    path = tmp_path / "out.json"
    report = _session_report((), interrupted=True)
    _json_report(tmp_path, path).pytest_cnnperf_session_finish(report)
    document = json.loads(path.read_text())
    assert document["interrupted"] is True and document["tests"] == []
    assert report.notes == [] and report.errors == []


def test_a_figure_that_is_not_finite_is_written_as_null(tmp_path: Path) -> None:
    registry = MetricRegistry()
    registry.register(
        Metric(
            name="final_loss",
            unit="",
            better="lower",
            relative=True,
            default_tolerance=0.5,
            read=lambda outcome: (math.nan,),
            description="a loss that diverged",
            noisy=False,
        )
    )
    path = tmp_path / "out.json"
    report = _session_report((_outcome("a.py::t", Verdict.NEW),), False, registry)
    _json_report(tmp_path, path).pytest_cnnperf_session_finish(report)
    (test,) = json.loads(path.read_text())["tests"]
    assert test["metrics"]["final_loss"] == {"samples": [None], "median": None}
    assert report.errors == []


def test_a_value_json_cannot_hold_fails_the_session_without_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "out.json"
    report = _session_report((), interrupted=False)
    _json_report(tmp_path, path, add={"tags": {"nightly"}}).pytest_cnnperf_session_finish(report)
    assert report.errors == [
        f"Could not write the results file {path}: the document holds a value JSON cannot "
        "represent (Object of type set is not JSON serializable). A pytest_cnnperf_update_json "
        f"hook added it; {path} was left as it was."
    ]
    assert not path.exists()


def test_results_that_cannot_be_saved_anywhere_are_said_lost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full_disk(*args: object, **kwargs: object) -> tuple[int, str]:
        raise OSError(errno.ENOSPC, "No space left on device")

    (tmp_path / "afile").write_text("not a directory\n")
    path = tmp_path / "afile" / "out.json"
    monkeypatch.setattr(tempfile, "mkstemp", full_disk)
    report = _session_report((), interrupted=False)
    _json_report(tmp_path, path).pytest_cnnperf_session_finish(report)
    assert report.errors == [
        f"Could not write the results file {path} ({path.parent} is not a directory). Saving "
        "the results to a temporary file failed too (No space left on device); they are lost."
    ]
