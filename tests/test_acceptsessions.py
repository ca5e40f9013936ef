"""``--cnnperf-sessions``: a baseline accepted from several independent pytest sessions.

Unit tests of each session's command line, the merge of the sessions' runs
on hand-made outcomes (no training), the stop once nothing can be accepted,
and what the accept records; then ``pytester`` runs in subprocesses: the
usage errors, a test that fails in the first session, and one tiny model
accepted from two sessions and compared against by a plain run.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from test_acceptance import TINY
from test_reliability_units import SNAPSHOT
from test_reliability_units import _cfg as _one_session_cfg

from pytest_cnnperf import acceptsessions, subsessions
from pytest_cnnperf.accept import accept_command, from_sessions, write_baselines
from pytest_cnnperf.acceptsessions import Rejected, merge_sessions, nothing_left, sessions_named
from pytest_cnnperf.baselines import Figures, Verdict
from pytest_cnnperf.config import CnnperfConfig
from pytest_cnnperf.metrics import MetricRegistry
from pytest_cnnperf.options import parse_session_count
from pytest_cnnperf.outcome import TestOutcome
from pytest_cnnperf.results import AccuracyCheck, EpochResult, TrainResult, WindowResult
from pytest_cnnperf.subsessions import ChildRun

if TYPE_CHECKING:
    from conftest import ResultsReader

A = "suites/test_seed001.py::test_lenet5[lenet5-mnist]"
B = "suites/test_seed001.py::test_vgg_like[vgg_like-mnist]"

# --------------------------------------------------------------------------- command lines


def test_each_session_gets_the_arguments_less_the_accept_and_its_own_results_file(
    tmp_path: Path,
) -> None:
    args = [
        "suites/",
        "--cnnperf-sessions",
        "3",
        "--cnnperf-update-baselines",
        "-n",
        "2",
        "--cnnperf-update-reason",
        "new runner",
        "-k",
        "lenet",
        "--cnnperf-json=all.json",
        "--cnnperf-repeats",
        "2",
        "--cnnperf-sessions=3",
        "--cnnperf-history=h.jsonl",
    ]
    command = acceptsessions.session_command(args, tmp_path / "session-1.json", color=False)
    assert command == [
        sys.executable,
        "-m",
        "pytest",
        "suites/",
        "-n",
        "2",
        "-k",
        "lenet",
        "--cnnperf-repeats",
        "2",
        "--cnnperf-history=h.jsonl",
        f"--cnnperf-json={tmp_path / 'session-1.json'}",
        "--cnnperf-compare=off",
        "--cnnperf-confirm=off",
    ]
    coloured = acceptsessions.session_command(["-x"], tmp_path / "s.json", color=True)
    assert coloured[3:5] == ["-x", "--color=yes"]


def test_a_flag_is_removed_without_the_argument_after_it() -> None:
    args = ["--cnnperf-update-baselines", "tests/", "--cnnperf-update-baselines"]
    assert subsessions.without_option(args, "--cnnperf-update-baselines", takes_value=False) == (
        ["tests/"],
        2,
    )
    assert subsessions.without_options(args, ["--cnnperf-update-baselines"]) == (["tests/"], 2)
    assert subsessions.takes_value("--cnnperf-sessions")
    assert not subsessions.takes_value("--cnnperf-update-baselines")


def test_each_session_s_environment_has_no_accept_in_addopts() -> None:
    addopts = "-x --cnnperf-update-baselines --cnnperf-sessions 2 --cnnperf-update-reason 'a b'"
    env = acceptsessions.session_environment({"PYTEST_ADDOPTS": addopts}, width=80)
    assert shlex.split(env["PYTEST_ADDOPTS"]) == ["-x"]
    assert env["COLUMNS"] == "80"
    assert acceptsessions.session_environment({"COLUMNS": "99"}, width=80) == {"COLUMNS": "99"}


def test_a_session_count_is_a_whole_number_of_at_least_two() -> None:
    import argparse

    assert parse_session_count("3") == 3
    for text in ("1", "0", "-2", "two", ""):
        with pytest.raises(argparse.ArgumentTypeError) as raised:
            parse_session_count(text)
        assert str(raised.value) == f"expected a whole number of at least 2, got {text!r}"


# --------------------------------------------------------------------------- the merge


def _run(step_ms: float, accuracy: float = 0.9) -> TrainResult:
    """One run with three windows of 10 steps at ``step_ms`` milliseconds a step."""
    windows = tuple(WindowResult(i, step_ms / 100, 10, 320, 0.5, 0.002) for i in range(1, 4))
    return TrainResult(
        model="lenet5",
        dataset="mnist",
        data_source="real",
        params=61706,
        batch_size=32,
        epochs=(EpochResult(1, 1.0, 16, 512, 0.7, {"accuracy": 0.5}, warmup=True),),
        accuracy=accuracy,
        test_images=128,
        device="/device:CPU:0",
        windows=windows,
        arrangement={"cores": 2, "threads": 2, "workers": 1, "pinned": False},
    )


def _outcome(node_id: str, *step_ms: float, failure: str | None = None) -> TestOutcome:
    runs = tuple(_run(ms) for ms in step_ms)
    checks = tuple(AccuracyCheck(0.5, run.accuracy, True) for run in runs)
    verdict = Verdict.FAILED if failure else Verdict.PASS
    return TestOutcome(
        node_id, "lenet5", "mnist", runs=runs, accuracy_checks=checks, verdict=verdict,
        failure=failure,
    )  # fmt: skip


def _session(number: int, *outcomes: TestOutcome, problem: str | None = None) -> ChildRun:
    return ChildRun(
        f"session {number}",
        ("pytest",),
        0 if problem is None and all(o.failure is None for o in outcomes) else 1,
        outcomes=outcomes,
        problem=problem,
    )


def test_each_test_gets_the_runs_of_every_session_in_session_order() -> None:
    merged = merge_sessions(
        [_session(1, _outcome(B, 20.0), _outcome(A, 10.0, 11.0)), _session(2, _outcome(A, 12.0))],
        2,
    )
    assert merged.rejected == (
        Rejected(B, ("not in the results of session 2",)),
    )  # fmt: skip
    a, b = merged.outcomes
    assert (a.node_id, b.node_id) == (A, B)
    assert [run.windows[0].seconds for run in a.runs] == pytest.approx([0.10, 0.11, 0.12])
    assert len(a.accuracy_checks) == 3
    assert a.verdict is Verdict.PASS and a.failure is None
    # One step-time estimate per run, from both processes.
    assert len(a.samples(MetricRegistry())["step_time"]) == 3
    assert b.verdict is Verdict.FAILED
    assert b.failure == "Not accepted from 2 sessions: not in the results of session 2."


def test_a_test_that_failed_or_lacks_a_session_is_not_accepted_and_says_why() -> None:
    broken = "AssertionError: accuracy 0.31 below 0.5\nassert 0.31 >= 0.5"
    runs = [
        _session(1, _outcome(A, 10.0), _outcome(B, 20.0)),
        _session(2, _outcome(A, 10.5), _outcome(B, failure=broken)),
        _session(3, problem="Session 3 wrote no results file (x), ..."),
    ]
    merged = merge_sessions(runs, 5)
    assert merged.rejected == (
        Rejected(A, ("session 3 gave no results", "sessions 4 and 5 did not run")),
        Rejected(
            B,
            (
                "failed in session 2 (AssertionError: accuracy 0.31 below 0.5)",
                "session 3 gave no results",
                "sessions 4 and 5 did not run",
            ),
        ),
    )
    assert merged.rejected[1].line() == (
        f"  {B}: failed in session 2 (AssertionError: accuracy 0.31 below 0.5); session 3 gave "
        "no results; sessions 4 and 5 did not run"
    )
    # The runs it had stay in the outcome (the results file shows them); the accept skips it.
    assert [o.verdict for o in merged.outcomes] == [Verdict.FAILED, Verdict.FAILED]
    assert len(merged.outcomes[0].runs) == 2
    trained_nothing = merge_sessions(
        [_session(1, _outcome(A, 10.0)), _session(2, _outcome(A)), _session(3, _outcome(A, 9.0))],
        3,
    )
    assert trained_nothing.rejected == (Rejected(A, ("trained nothing in session 2",)),)


def test_a_test_that_trained_in_no_session_is_kept_and_not_rejected() -> None:
    merged = merge_sessions([_session(1, _outcome(A)), _session(2, _outcome(A))], 2)
    assert merged.rejected == ()
    assert merged.outcomes == (_outcome(A),)


def test_sessions_stop_once_no_test_can_be_accepted() -> None:
    failed = _outcome(A, failure="RuntimeError: out of memory")
    assert nothing_left([_session(1, _outcome(B, 10.0), failed)], 3) is None
    assert nothing_left([_session(1, failed)], 3) == (
        "No test finished with figures in session 1, so none can be accepted from 3 sessions; "
        "sessions 2 and 3 were not run."
    )
    assert nothing_left([_session(1, _outcome(A, 10.0)), _session(2, failed)], 3) == (
        "No test finished with figures in each of sessions 1 and 2, so none can be accepted "
        "from 3 sessions; session 3 was not run."
    )
    assert nothing_left([_session(1, problem="no results")], 2) == (
        "No test finished with figures in session 1, so none can be accepted from 2 sessions; "
        "session 2 was not run."
    )
    assert nothing_left([_session(1, failed), _session(2, failed)], 2) is None  # all ran
    assert [sessions_named(2, 2), sessions_named(2, 3), sessions_named(2, 5)] == [
        "session 2",
        "sessions 2 and 3",
        "sessions 2 to 5",
    ]


# --------------------------------------------------------------------------- the accept


def _cfg(root: Path, **changes: Any) -> CnnperfConfig:
    return _one_session_cfg(root, **{"update_reason": "new runner", "sessions": 3, **changes})


def test_the_baseline_records_the_sessions_its_runs_came_from(tmp_path: Path) -> None:
    registry = MetricRegistry()
    merged = merge_sessions(
        [_session(number, _outcome(A, 10.0 + number)) for number in (1, 2, 3)], 3
    )
    result = write_baselines(merged.outcomes, SNAPSHOT, _cfg(tmp_path), registry)
    path = tmp_path / "baselines" / f"{SNAPSHOT.hardware.slug()}.json"
    assert result.ok and result.messages == [
        f"Accepted the figures of 1 test, measured in 3 separate sessions, as baselines in "
        f"{path} (new runner)."
    ]
    entry = json.loads(path.read_text())["entries"][A]
    assert entry["metrics"]["step_time"]["count"] == 3
    assert entry["timing"]["sessions"] == 3 and len(entry["timing"]["runs"]) == 3
    assert entry["reason"] == "new runner"
    figures = Figures(A, "lenet5", "mnist", 32, "real", {"step_time": (1.0,)}, timing=None)
    assert from_sessions(figures, 3) is figures  # per-epoch timing has no timing block
    one = _outcome(A, 10.0).figures(registry)
    assert from_sessions(one, None) is one


def test_the_accept_command_of_separate_sessions_names_them(tmp_path: Path) -> None:
    assert accept_command(_cfg(tmp_path), A) == (
        f"pytest {shlex.quote(A)} --cnnperf-update-baselines --cnnperf-sessions=3 "
        '--cnnperf-update-reason "<why the figures changed>"'
    )


# --------------------------------------------------------------------------- through pytester

PLAIN = "def test_nothing():\n    pass\n"


@pytest.mark.parametrize(
    ("ini", "args", "message"),
    [
        pytest.param(
            "",
            ["--cnnperf-sessions=2"],
            "ERROR: argument --cnnperf-sessions: expected --cnnperf-update-baselines as well, "
            "got --cnnperf-sessions=2 alone. Separate sessions measure the runs of the baselines "
            "being accepted; a comparison run takes its noise from the baseline and the history "
            "file (--cnnperf-history).",
            id="without-update-baselines",
        ),
        pytest.param(
            "",
            [
                "--cnnperf-sessions=2",
                "--cnnperf-update-baselines",
                "--cnnperf-backends=tensorflow,jax",
            ],
            "ERROR: argument --cnnperf-sessions: expected it without --cnnperf-backends, got "
            "--cnnperf-backends=tensorflow,jax as well. Accept each backend's baselines from "
            "separate sessions one backend at a time: --cnnperf-backend=NAME "
            "--cnnperf-update-baselines --cnnperf-sessions=2.",
            id="with-backends",
        ),
        pytest.param(
            "",
            ["--cnnperf-sessions=3", "--cnnperf-update-baselines", "--cnnperf-update-interrupted"],
            "ERROR: argument --cnnperf-sessions: expected it without "
            "--cnnperf-update-interrupted, got both. A baseline from 3 separate sessions is "
            "accepted only when every session finished: an interrupted accept updates no "
            "baseline.",
            id="with-update-interrupted",
        ),
        pytest.param(
            "",
            ["--cnnperf-sessions=1", "--cnnperf-update-baselines"],
            # argparse names the program as pytester starts it.
            "python -m pytest: error: argument --cnnperf-sessions: expected a whole number of "
            "at least 2, got '1'",
            id="one-session",
        ),
        pytest.param(
            "addopts = --cnnperf-sessions=2\n",
            ["--cnnperf-update-baselines"],
            "ERROR: argument --cnnperf-sessions: expected it on the command line or in "
            "PYTEST_ADDOPTS, got it from the addopts ini option or an @file. Each session is "
            "started with the same ini file and arguments less this option, which it cannot "
            "take out of those; give --cnnperf-sessions on the command line.",
            id="sessions-in-addopts",
        ),
        pytest.param(
            "addopts = --cnnperf-update-baselines\n",
            ["--cnnperf-sessions", "2"],
            "ERROR: argument --cnnperf-update-baselines: expected it on the command line or in "
            "PYTEST_ADDOPTS, got it from the addopts ini option or an @file. Each session is "
            "started with the same ini file and arguments less this option, which it cannot "
            "take out of those; give --cnnperf-update-baselines on the command line.",
            id="update-baselines-in-addopts",
        ),
    ],
)
def test_misuse_is_a_usage_error_said_once(
    pytester: pytest.Pytester, ini: str, args: list[str], message: str
) -> None:
    pytester.makeini("[pytest]\n" + ini)
    pytester.makepyfile(test_plain=PLAIN)
    result = pytester.runpytest_subprocess(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert result.stderr.lines.count(message) == 1, result.stderr.str()
    assert "cnnperf session 1" not in result.stdout.str()


ACCEPTED = """
import os

from tinymodels import *


@pytest.mark.cnnperf(windows=4)
@pytest_cnnperf.model(tiny_cnn)
@pytest_cnnperf.dataset("synthetic", **SYNTHETIC)
def test_tiny(cnnperf, cnnperf_model, cnnperf_dataset):
    # Which process trained: each session is a pytest process of its own.
    with open("pids.txt", "a") as handle:
        handle.write(f"{os.getpid()}\\n")
    cnnperf.train(cnnperf_model, cnnperf_dataset, batch_size=32)
"""


def test_a_baseline_accepted_from_two_sessions_has_the_runs_of_both_and_is_compared_against(
    pytester: pytest.Pytester, read_results: ResultsReader, baseline_file: Path
) -> None:
    pytester.makepyfile(tinymodels=TINY, test_perf=ACCEPTED)
    pytester.makeini("[pytest]\ncnnperf_epochs = 1\ncnnperf_layers = off\n")
    result = pytester.runpytest_subprocess(
        "--color=no",
        "--cnnperf-update-baselines",
        "--cnnperf-sessions=2",
        "--cnnperf-repeats=2",
        "--cnnperf-update-reason",
        "two sessions",
        "--cnnperf-json=accepted.json",
    )
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    node = "test_perf.py::test_tiny[tiny_cnn-synthetic]"
    result.stdout.fnmatch_lines(
        [
            "*= cnnperf session 1 of 2 =*",
            "* -m pytest --basetemp=* --color=no --cnnperf-repeats=2 "
            "--cnnperf-json=*session-1.json --cnnperf-compare=off --cnnperf-confirm=off",
            "*1 passed in *",
            "*= cnnperf session 2 of 2 =*",
            "*1 passed in *",
            "*= cnnperf sessions =*",
            "session 1: 1 passed in * (exit status 0)",
            "session 2: 1 passed in * (exit status 0)",
            "*= cnnperf =*",
            "*cnnperf summary*",
            "Accepted the figures of 1 test, measured in 2 separate sessions, as baselines in "
            f"{baseline_file} (two sessions).",
            f"cnnperf results written to {pytester.path / 'accepted.json'}",
            "*= 2 sessions passed in *",
        ]
    )
    # Each session accepted nothing itself: one accept, by the controlling process.
    assert result.stdout.str().count("Accepted the figures") == 1
    pids = (pytester.path / "pids.txt").read_text().split()
    assert len(pids) == 2 and len(set(pids)) == 2
    entry = json.loads(baseline_file.read_text())["entries"][node]
    assert entry["metrics"]["step_time"]["count"] == 4  # 2 sessions x 2 repeats
    assert entry["timing"]["sessions"] == 2 and len(entry["timing"]["runs"]) == 4
    assert entry["reason"] == "two sessions"
    document = read_results("accepted.json")
    (test,) = document["tests"]
    assert len(test["runs"]) == 4 and len(test["metrics"]["step_time"]["samples"]) == 4
    assert [session["exit_status"] for session in document["sessions"]] == [0, 0]

    plain = pytester.runpytest_subprocess(
        "--color=no", "--cnnperf-compare=warn", "--cnnperf-json=plain.json"
    )
    assert plain.ret == pytest.ExitCode.OK, plain.stdout.str()
    assert "cnnperf session" not in plain.stdout.str()
    (judged,) = read_results("plain.json")["tests"]
    assert judged["verdict"] in ("pass", "unstable", "improved", "regressed")
    assert judged["comparison"]["metrics"]["step_time"]["baseline_count"] == 4


FAILING = """
import pytest


def test_broken(cnnperf):
    raise RuntimeError("no data on this machine")


def test_plain():
    pass
"""


def test_sessions_stop_when_the_first_leaves_nothing_to_accept(
    pytester: pytest.Pytester, baseline_file: Path
) -> None:
    pytester.makepyfile(test_perf=FAILING)
    result = pytester.runpytest_subprocess(
        "--color=no", "--cnnperf-update-baselines", "--cnnperf-sessions=3"
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*= cnnperf session 1 of 3 =*",
            "*RuntimeError: no data on this machine*",
            "*= cnnperf sessions =*",
            "session 1: 1 failed, 1 passed in * (exit status 1: tests failed)",
            "No test finished with figures in session 1, so none can be accepted from 3 "
            "sessions; sessions 2 and 3 were not run.",
            "Not accepted: 1 test without figures from all 3 sessions:",
            "  test_perf.py::test_broken: failed in session 1 (no data on this machine); "
            "sessions 2 and 3 did not run",
            "*= 1 session failed in *",
        ]
    )
    assert "cnnperf session 2 of 3" not in result.stdout.str()
    assert not baseline_file.exists()


def test_a_session_that_wrote_no_results_is_named_and_the_others_are_not_started(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(
        """
        import pytest


        def pytest_configure(config):
            if config.getoption("cnnperf_compare") == "off":  # in each session, not above them
                raise pytest.UsageError("this project accepts no baselines here")
        """
    )
    pytester.makepyfile(test_plain=PLAIN)
    result = pytester.runpytest_subprocess(
        "--color=no", "--cnnperf-update-baselines", "--cnnperf-sessions=2"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stdout.fnmatch_lines(
        [
            "*= cnnperf sessions =*",
            # A session's last line of output (here its usage error) stands for its counts.
            "session 1: ERROR: this project accepts no baselines here (exit status 4: usage error)",
            "  Session 1 wrote no results file (*session-1.json), so none of its runs can be "
            "accepted; its output above says why.",
            "No test finished with figures in session 1, so none can be accepted from 2 "
            "sessions; session 2 was not run.",
            "--cnnperf-update-baselines: no test completed with figures; * was left as it was.",
            "*= 1 session failed in *",
        ]
    )
    assert "cnnperf session 2 of 2" not in result.stdout.str()


#: The controlling process with Python's own Ctrl-C handler, whatever it inherited
#: (a process started with SIGINT ignored keeps it ignored).
WITH_CTRL_C = (
    "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "import pytest; sys.exit(pytest.main(sys.argv[1:]))"
)


def test_ctrl_c_stops_after_the_session_it_interrupted_and_accepts_nothing(
    pytester: pytest.Pytester, read_results: ResultsReader
) -> None:
    pytester.makepyfile(
        test_plain="""
        import os
        import signal


        def test_interrupted():
            # Ctrl-C reaches the controlling process and this session alike.
            os.kill(os.getppid(), signal.SIGINT)
            raise KeyboardInterrupt
        """
    )
    result = pytester.run(
        sys.executable,
        "-c",
        WITH_CTRL_C,
        "--color=no",
        "--cnnperf-update-baselines",
        "--cnnperf-sessions=3",
        "--cnnperf-json=merged.json",
    )
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(
        [
            "session 1: * (exit status 2: interrupted)",
            "Interrupted during session 1 of 3; sessions 2 and 3 did not run.",
            "The session was interrupted: no baseline was updated, and no test had finished "
            "with figures.",
        ]
    )
    assert "cnnperf session 2 of 3" not in result.stdout.str()
    document = read_results("merged.json")
    assert document["interrupted"] is True and document["tests"] == []
    assert [session["interrupted"] for session in document["sessions"]] == [True]
