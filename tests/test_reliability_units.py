"""Unit tests of the checks of the results file and baseline directory at start.

No TensorFlow, no pytester. The unwritable-directory test drops root's
privileges in a child process (root ignores file permissions), the way
tests/test_atomicfile.py does.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from multiprocessing.connection import Connection
from pathlib import Path

import pytest

from pytest_cnnperf.config import baseline_dir_problem, results_file_problem

#: The uid and gid a child started as root drops to, so that permissions apply to it.
NOBODY = 65534


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
