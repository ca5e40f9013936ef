"""Atomic and locked updates: pytest_cnnperf.atomicfile.

Pure tests, no TensorFlow. The lock, crash and permission tests use real
child processes (tests/atomicfile_workers.py), started through
multiprocessing's forkserver context so that each costs milliseconds.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from multiprocessing.context import ForkServerContext
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import atomicfile_workers as workers
import pytest

from pytest_cnnperf import atomicfile
from pytest_cnnperf.atomicfile import update_text_locked

pytestmark = pytest.mark.skipif(
    sys.platform == "win32", reason="child processes are forked and killed with POSIX signals"
)

#: Seconds to wait for a child's signal before the test fails instead of hanging.
CHILD_SECONDS = 60


# --------------------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def forkserver() -> ForkServerContext:
    """A multiprocessing context whose server has the module under test imported."""
    context = multiprocessing.get_context("forkserver")
    # Not the worker module: before Python 3.13 the server imports these before it takes
    # on the parent's sys.path, which is where pytest put tests/. Its imports are the cost.
    context.set_forkserver_preload(["pytest_cnnperf.atomicfile", "filelock"])
    return context


@pytest.fixture
def processes() -> Iterator[list[BaseProcess]]:
    """Children a test started; any still running at its end are killed."""
    started: list[BaseProcess] = []
    yield started
    for process in started:
        if process.is_alive():
            process.kill()
        process.join(CHILD_SECONDS)


def start(
    context: ForkServerContext,
    started: list[BaseProcess],
    target: Callable[..., None],
    *args: Any,
) -> BaseProcess:
    process = context.Process(target=target, args=args, daemon=True)
    process.start()
    started.append(process)
    return process


def wait_ready(reader: Connection) -> None:
    assert reader.poll(CHILD_SECONDS), "the child never signalled"
    assert reader.recv_bytes() == workers.READY


def dead_pid() -> int:
    """The pid of a child that has exited and been reaped."""
    child = subprocess.Popen([sys.executable, "-I", "-S", "-c", ""])
    child.wait()
    return child.pid


def temporaries(directory: Path) -> list[str]:
    return sorted(name for name in os.listdir(directory) if name.endswith(".tmp"))


def writer_pid(temporary: str) -> int:
    """The pid in ``.x.json.{pid}.{token}.tmp``."""
    return int(temporary.removeprefix(".x.json.").split(".")[0])


# --------------------------------------------------------------------------- reading and writing


def test_creates_a_missing_file_then_passes_the_previous_text(tmp_path: Path) -> None:
    path = tmp_path / "new" / "x.json"
    seen: list[str | None] = []

    def update(text: str) -> Callable[[str | None], str]:
        def inner(current: str | None) -> str:
            seen.append(current)
            return text

        return inner

    assert update_text_locked(path, update("one\n")) == "one\n"
    assert update_text_locked(path, update("two\n")) == "two\n"

    assert seen == [None, "one\n"]
    assert path.read_text(encoding="utf-8") == "two\n"


def test_the_lock_file_is_named_after_the_target_and_kept(tmp_path: Path) -> None:
    update_text_locked(tmp_path / "x.json", lambda current: "{}\n")

    assert sorted(os.listdir(tmp_path)) == [".x.json.lock", "x.json"]
    assert (tmp_path / ".x.json.lock").stat().st_size == 0


def test_an_update_that_raises_writes_nothing(tmp_path: Path) -> None:
    existing = tmp_path / "x.json"
    existing.write_text("old\n", encoding="utf-8")
    missing = tmp_path / "y.json"

    def fail(current: str | None) -> str:
        raise ValueError("refused")

    with pytest.raises(ValueError, match=r"^refused$"):
        update_text_locked(existing, fail)
    with pytest.raises(ValueError, match=r"^refused$"):
        update_text_locked(missing, fail)

    assert existing.read_text(encoding="utf-8") == "old\n"
    assert sorted(os.listdir(tmp_path)) == [".x.json.lock", ".y.json.lock", "x.json"]


def test_an_existing_file_keeps_its_permissions(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text("old\n", encoding="utf-8")
    path.chmod(0o640)

    update_text_locked(path, lambda current: "new\n")

    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert path.read_text(encoding="utf-8") == "new\n"


# --------------------------------------------------------------------------- the lock


def test_a_held_lock_times_out_with_a_message_naming_the_lock_file(
    tmp_path: Path, forkserver: ForkServerContext, processes: list[BaseProcess]
) -> None:
    path = tmp_path / "x.json"
    path.write_text("old\n", encoding="utf-8")
    lock_path = tmp_path / ".x.json.lock"
    reader, writer = forkserver.Pipe(duplex=False)
    holder = start(forkserver, processes, workers.hold_lock, str(lock_path), writer)
    writer.close()
    wait_ready(reader)
    calls: list[str | None] = []

    def update(current: str | None) -> str:
        calls.append(current)
        return "new\n"

    with pytest.raises(TimeoutError) as raised:
        update_text_locked(path, update, timeout_seconds=0.2)

    assert str(raised.value) == (
        f"Could not update {path}: waited 0.2 seconds for the lock {lock_path}, which another "
        "pytest-cnnperf process holds while it updates that file. Let that process finish and "
        f"run again; if no pytest-cnnperf process is running, remove {lock_path} and run again."
    )
    # Callers that turn OSError into their own message handle this one too.
    assert isinstance(raised.value, OSError)
    assert calls == []
    assert path.read_text(encoding="utf-8") == "old\n"

    # The lock was the only obstacle: once its holder is gone the same update goes through.
    holder.kill()
    holder.join(CHILD_SECONDS)
    assert update_text_locked(path, update, timeout_seconds=CHILD_SECONDS) == "new\n"
    assert calls == ["old\n"]


def test_concurrent_updates_keep_every_process_s_changes(
    tmp_path: Path, forkserver: ForkServerContext, processes: list[BaseProcess]
) -> None:
    path = tmp_path / "x.json"
    names, cycles = ["p0", "p1", "p2"], 50
    go = forkserver.Event()
    workers_started = [
        start(forkserver, processes, workers.add_keys, str(path), name, cycles, go)
        for name in names
    ]
    go.set()
    for worker in workers_started:
        worker.join(CHILD_SECONDS)
        assert worker.exitcode == 0

    stored = json.loads(path.read_text(encoding="utf-8"))
    expected = {f"{name}-{cycle}" for name in names for cycle in range(cycles)}
    assert len(stored) == len(expected), f"lost updates: {sorted(expected - set(stored))[:10]}"
    assert set(stored) == expected


# --------------------------------------------------------------------------- interrupted writes


def test_a_killed_writer_leaves_a_whole_document_and_no_lasting_temporary_file(
    tmp_path: Path, forkserver: ForkServerContext, processes: list[BaseProcess]
) -> None:
    path = tmp_path / "x.json"
    documents = workers.documents()
    rng = random.Random(20240601)
    interrupted = 0
    for _ in range(20):
        reader, writer = forkserver.Pipe(duplex=False)
        child = start(forkserver, processes, workers.alternate_documents, str(path), writer)
        writer.close()
        wait_ready(reader)
        reader.close()
        # Its first update removed what the killed writers left; only its own may be there.
        assert {writer_pid(name) for name in temporaries(tmp_path)} <= {child.pid}

        # Lands anywhere in a cycle: taking the lock, reading, writing, renaming.
        time.sleep(rng.uniform(0.0, 0.04))
        child.kill()
        child.join(CHILD_SECONDS)
        assert child.exitcode == -signal.SIGKILL
        assert child.pid is not None

        text = path.read_text(encoding="utf-8")
        assert text in documents, f"after a kill: a partial file of {len(text)} characters"
        interrupted += child.pid in [writer_pid(name) for name in temporaries(tmp_path)]

    # Otherwise no kill landed mid-write and the cleanup below was never put to the test.
    assert interrupted > 0
    fresh = start(forkserver, processes, workers.write_once, str(path))
    fresh.join(CHILD_SECONDS)
    assert fresh.exitcode == 0
    assert temporaries(tmp_path) == []
    assert path.read_text(encoding="utf-8") in documents


def test_only_temporary_files_of_dead_writers_of_the_target_are_removed(tmp_path: Path) -> None:
    dead = dead_pid()
    stale = f".x.json.{dead}.0123abcd.tmp"
    kept = [
        # Live writers: this process and its parent.
        f".x.json.{os.getpid()}.0123abcd.tmp",
        f".x.json.{os.getppid()}.0123abcd.tmp",
        # Other targets' temporary files (x.json.PID and y.json), even of a dead writer.
        f".x.json.{dead}.{dead}.0123abcd.tmp",
        f".y.json.{dead}.0123abcd.tmp",
        # Names this module does not write.
        f".x.json.{dead}.tmp",
        f"x.json.{dead}.0123abcd.tmp",
        f".x.json.{dead}.NOTHEX.tmp",
    ]
    for name in [stale, *kept]:
        (tmp_path / name).write_text("partial", encoding="utf-8")

    update_text_locked(tmp_path / "x.json", lambda current: "new\n")

    assert sorted(os.listdir(tmp_path)) == sorted([*kept, ".x.json.lock", "x.json"])


def test_a_writer_is_alive_unless_its_pid_is_gone(monkeypatch: pytest.MonkeyPatch) -> None:
    assert atomicfile._writer_is_alive(os.getpid())
    assert not atomicfile._writer_is_alive(dead_pid())
    assert atomicfile._writer_is_alive(0)
    assert atomicfile._writer_is_alive(10**30)

    def other_users_process(pid: int, signal_number: int) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "kill", other_users_process)
    assert atomicfile._writer_is_alive(12345)


# --------------------------------------------------------------------------- unwritable directories


@pytest.fixture
def read_only_directory() -> Iterator[Path]:
    """A directory nobody but root may write, below directories everybody may enter.

    Not under tmp_path: pytest makes that private to the user running it.
    """
    base = Path(tempfile.mkdtemp(prefix="cnnperf-atomicfile-"))
    base.chmod(0o755)
    directory = base / "baselines"
    directory.mkdir()
    yield directory
    shutil.rmtree(base)


def update_as_unprivileged_user(
    path: Path, forkserver: ForkServerContext, processes: list[BaseProcess]
) -> tuple[str, bool, str] | None:
    reader, writer = forkserver.Pipe(duplex=False)
    child = start(forkserver, processes, workers.update_unprivileged, str(path), writer)
    writer.close()
    assert reader.poll(CHILD_SECONDS), "the child never reported"
    report: tuple[str, bool, str] | None = reader.recv()
    child.join(CHILD_SECONDS)
    return report


def test_an_unwritable_directory_raises_oserror_and_leaves_no_file(
    read_only_directory: Path, forkserver: ForkServerContext, processes: list[BaseProcess]
) -> None:
    read_only_directory.chmod(0o555)
    path = read_only_directory / "x.json"

    report = update_as_unprivileged_user(path, forkserver, processes)

    assert report is not None
    name, is_os_error, message = report
    assert (name, is_os_error) == ("PermissionError", True)
    assert str(read_only_directory / ".x.json.lock") in message
    assert os.listdir(read_only_directory) == []


def test_an_unwritable_directory_with_a_lock_file_leaves_no_temporary_file(
    read_only_directory: Path, forkserver: ForkServerContext, processes: list[BaseProcess]
) -> None:
    path = read_only_directory / "x.json"
    update_text_locked(path, lambda current: "old\n")
    (read_only_directory / ".x.json.lock").chmod(0o666)
    read_only_directory.chmod(0o555)

    report = update_as_unprivileged_user(path, forkserver, processes)

    assert report is not None
    name, is_os_error, message = report
    assert (name, is_os_error) == ("PermissionError", True)
    assert f"'{read_only_directory}/.x.json." in message
    assert sorted(os.listdir(read_only_directory)) == [".x.json.lock", "x.json"]
    assert path.read_text(encoding="utf-8") == "old\n"
