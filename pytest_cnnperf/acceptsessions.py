"""``--cnnperf-sessions=N``: baselines accepted from N independent pytest sessions.

The runs of one process share that process's state. Measured on this
project's machine, the in-process repeats of an accept agreed within a
median log-SD of 0.059 per entry, where separate sessions of the same code
differ by about 0.155 to 0.18 (docs/baselines.md): a baseline whose noise
comes from one session is too narrow, and a later session of identical code
can be judged ``regressed`` against it.

With ``--cnnperf-update-baselines --cnnperf-sessions=N`` the process that
was started runs no test itself. ``SeparateSessions`` skips its collection
and, in ``pytest_runtestloop``, runs N times, one after the other, each time
a fresh process (``subsessions``)::

    python -m pytest <the arguments less --cnnperf-sessions,
        --cnnperf-update-baselines, --cnnperf-update-reason and --cnnperf-json>
        --cnnperf-json=<temporary>/session-I.json --cnnperf-compare=off --cnnperf-confirm=off

Each session trains and reports as any run does and accepts nothing; ``-n``,
``-k``, ``--cnnperf-repeats``, the history file and every other option pass
through. Then each results file is read and each test's runs are merged
across the sessions by node id (``merge_sessions``): a test that failed,
trained nothing or is missing in any session is not accepted, and the
summary says where and why. The merged outcomes are recorded in this
process's ``CnnperfSession``, which accepts them as every accept does
(``accept.write_baselines``, with ``--cnnperf-update-reason``; each entry's
``timing.sessions`` says N) and shows them in its summary and its results
file (``--cnnperf-json``).

Once no test is left that finished in every session so far, the sessions
still to run are not started: nothing could be accepted from them.

The merge is a pure function of ``TestOutcome``s, unit-tested without
training. Imported only when ``--cnnperf-sessions`` is given.

PYTEST_DONT_REWRITE: part of the plugin, whose modules pytest must not
rewrite.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_cnnperf import subsessions
from pytest_cnnperf.subsessions import JSON_FLAG, ChildRun

if TYPE_CHECKING:
    from pytest_cnnperf.config import CnnperfConfig
    from pytest_cnnperf.outcome import TestOutcome

FLAG = "--cnnperf-sessions"
UPDATE_FLAG = "--cnnperf-update-baselines"
#: Left out of each session's arguments: this process accepts, and writes the results file.
REMOVED = (FLAG, UPDATE_FLAG, "--cnnperf-update-reason", JSON_FLAG)
#: Added to each session's, after its results file: the baseline being replaced
#: is not compared with, so a session neither fails on it nor trains a test again.
ADDED = ("--cnnperf-compare=off", "--cnnperf-confirm=off")


# --------------------------------------------------------------------------- command lines


def session_command(args: Sequence[str], results: Path, *, color: bool) -> list[str]:
    """The command line of one session: ``args`` less ``REMOVED``, its results file, ``ADDED``."""
    return subsessions.pytest_command(
        args, remove=REMOVED, add=(f"{JSON_FLAG}={results}", *ADDED), color=color
    )


def session_environment(environ: Mapping[str, str], *, width: int) -> dict[str, str]:
    """The environment of one session: ``PYTEST_ADDOPTS`` less ``REMOVED``."""
    return subsessions.run_environment(environ, remove=REMOVED, width=width)


def usage_problem(config: pytest.Config) -> str | None:
    """Why the sessions cannot run as given, or None.

    ``--cnnperf-sessions`` and ``--cnnperf-update-baselines`` must be where
    each session's command can leave them out; the combinations of settings
    are checked when they are resolved (``config.sessions_problem``).
    """
    for flag in (FLAG, UPDATE_FLAG):
        problem = subsessions.unremovable_problem(config, flag, runs="Each session is")
        if problem is not None:
            return problem
    return None


# --------------------------------------------------------------------------- the merge


def sessions_named(first: int, last: int) -> str:
    """``session 3``, ``sessions 2 and 3``, ``sessions 2 to 5``."""
    if first == last:
        return f"session {first}"
    joiner = "and" if last == first + 1 else "to"
    return f"sessions {first} {joiner} {last}"


@dataclass(frozen=True)
class Rejected:
    """A test that is not accepted, and why: what each session that lacks it lacks."""

    node_id: str
    reasons: tuple[str, ...]

    def line(self) -> str:
        return f"  {self.node_id}: {'; '.join(self.reasons)}"


@dataclass(frozen=True)
class Merged:
    """Every test of the sessions with the runs of all of them, and those not accepted.

    ``outcomes`` are sorted by node id; a rejected test's outcome is
    ``failed``, its reasons its ``failure``, so that the accept leaves it out.
    """

    outcomes: tuple[TestOutcome, ...]
    rejected: tuple[Rejected, ...]


def _lack(run: ChildRun, number: int, outcome: TestOutcome | None) -> str | None:
    """What session ``number`` lacks for a test to be accepted, or None."""
    from pytest_cnnperf.baselines import Verdict

    if run.problem is not None:
        return f"session {number} gave no results"
    if outcome is None:
        return f"not in the results of session {number}"
    if outcome.verdict is Verdict.FAILED:
        said = (outcome.failure or "").strip().splitlines()
        return f"failed in session {number}" + (f" ({said[0]})" if said else "")
    if not outcome.runs:
        return f"trained nothing in session {number}"
    return None


def merge_sessions(runs: Sequence[ChildRun], sessions: int) -> Merged:
    """Each test's runs of every session, in session order, matched by node id.

    Args:
        runs: the sessions that ran, in order; fewer than ``sessions`` when
            the others were not started (stopped or interrupted).
        sessions: how many sessions were to run.

    Returns:
        One outcome per test of any session. A test with runs, and no
        failure, in each of the ``sessions`` is its first session's outcome
        with the runs and accuracy checks of all of them. Any other test that
        trained or failed somewhere is rejected; a test that trained in no
        session and failed in none (it uses cnnperf but trains nothing) is
        kept as its first session's outcome, which the accept skips.
    """
    from pytest_cnnperf.baselines import Verdict

    found = [{outcome.node_id: outcome for outcome in run.outcomes} for run in runs]
    outcomes: list[TestOutcome] = []
    rejected: list[Rejected] = []
    for node_id in sorted({node for session in found for node in session}):
        present = [session[node_id] for session in found if node_id in session]
        first = present[0]
        merged = first.replace(
            runs=tuple(run for outcome in present for run in outcome.runs),
            accuracy_checks=tuple(
                check for outcome in present for check in outcome.accuracy_checks
            ),
        )
        if not merged.runs and all(o.verdict is not Verdict.FAILED for o in present):
            outcomes.append(first)
            continue
        reasons = [
            reason
            for number, (run, session) in enumerate(zip(runs, found, strict=True), start=1)
            if (reason := _lack(run, number, session.get(node_id))) is not None
        ]
        if len(runs) < sessions:
            reasons.append(f"{sessions_named(len(runs) + 1, sessions)} did not run")
        if reasons:
            failure = f"Not accepted from {sessions} sessions: {'; '.join(reasons)}."
            merged = merged.replace(verdict=Verdict.FAILED, failure=failure, comparison=None)
            rejected.append(Rejected(node_id, tuple(reasons)))
        outcomes.append(merged)
    return Merged(tuple(outcomes), tuple(rejected))


def nothing_left(runs: Sequence[ChildRun], sessions: int) -> str | None:
    """Why the sessions not yet run could not lead to an accept, or None when they could.

    They could when some test finished with figures in every session so far.
    """
    from pytest_cnnperf.accept import acceptable

    ran = len(runs)
    if ran >= sessions or any(acceptable(o) for o in merge_sessions(runs, ran).outcomes):
        return None
    where = "session 1" if ran == 1 else f"each of {sessions_named(1, ran)}"
    rest = sessions_named(ran + 1, sessions)
    return (
        f"No test finished with figures in {where}, so none can be accepted from {sessions} "
        f"sessions; {rest} {'was' if ran + 1 == sessions else 'were'} not run."
    )


# --------------------------------------------------------------------------- the plugin


def take_over(config: pytest.Config, cfg: CnnperfConfig) -> SeparateSessions:
    """Make this process the controller of the sessions (``pytest_configure``).

    Raises:
        pytest.UsageError: ``usage_problem`` found one.
    """
    subsessions.take_over(config, usage_problem(config))
    return SeparateSessions(config, cfg)


class SeparateSessions:
    """The controlling process of ``--cnnperf-sessions``; see the module docstring."""

    def __init__(self, config: pytest.Config, cfg: CnnperfConfig) -> None:
        assert cfg.sessions is not None
        self.config = config
        self.cfg = cfg
        self.sessions = cfg.sessions
        self.runs: list[ChildRun] = []
        self.merged = Merged((), ())
        self.stopped: str | None = None
        self.interrupted = False

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection(self, session: pytest.Session) -> bool:
        """Collect nothing here: each session collects (as xdist's controller does)."""
        return True

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> bool:
        from pytest_cnnperf.plugin import SESSION_PLUGIN_NAME
        from pytest_cnnperf.session import CnnperfSession

        workdir = Path(tempfile.mkdtemp(prefix="cnnperf-sessions-"))
        try:
            for number in range(1, self.sessions + 1):
                self._run(number, workdir)
                self.stopped = nothing_left(self.runs, self.sessions)
                if self.stopped is not None:
                    break
        finally:
            self.merged = merge_sessions(self.runs, self.sessions)
            # This process's session accepts, summarizes and writes them as its own.
            recorder = self.config.pluginmanager.get_plugin(SESSION_PLUGIN_NAME)
            assert isinstance(recorder, CnnperfSession)
            for outcome in self.merged.outcomes:
                recorder.record(outcome)
            shutil.rmtree(workdir, ignore_errors=True)
        return True

    def _run(self, number: int, workdir: Path) -> None:
        from pytest_cnnperf.config import registry_for

        writer = self.config.get_terminal_writer()
        results = workdir / f"session-{number}.json"
        command = session_command(
            self.config.invocation_params.args, results, color=writer.hasmarkup
        )
        finished = subsessions.run_pytest(
            self.config,
            command,
            session_environment(os.environ, width=writer.fullwidth),
            title=f"cnnperf session {number} of {self.sessions}",
        )
        run = ChildRun(
            f"session {number}",
            tuple(command),
            finished.exit_status,
            finished.summary,
            interrupted=finished.interrupted,
        )
        self.runs.append(
            subsessions.read_run(
                run,
                results,
                registry_for(self.config),
                missing=(
                    f"Session {number} wrote no results file ({results}), so none of its runs "
                    "can be accepted; its output above says why."
                ),
            )
        )
        if finished.interrupted:
            # The session got the same Ctrl-C and finished its interrupted run: stop here.
            raise KeyboardInterrupt

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        # Before CnnperfSession's (trylast), which accepts and may fail the session too.
        self.interrupted = exitstatus == pytest.ExitCode.INTERRUPTED or any(
            run.interrupted for run in self.runs
        )
        if self.interrupted:
            return
        failed = [run for run in self.runs if not run.ok]
        if failed:
            session.exitstatus = next((run.exit_status for run in failed if run.exit_status), 1)
        elif self.merged.rejected:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        else:
            session.exitstatus = pytest.ExitCode.OK

    def pytest_cnnperf_update_json(self, document: dict[str, Any]) -> None:
        """The results file of the merged outcomes says what each session was."""
        document["sessions"] = [run.to_dict(results=False) for run in self.runs]

    @pytest.hookimpl(tryfirst=True)
    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        """Each session's line and what was not accepted, before the merged summary."""
        if not self.runs:
            return
        terminalreporter.write_sep("=", "cnnperf sessions")
        for run in self.runs:
            terminalreporter.write_line(run.status_line(), red=not run.ok)
            if run.problem:
                terminalreporter.write_line(f"  {run.problem}")
        if self.interrupted:
            left = self.sessions - len(self.runs)
            terminalreporter.write_line(
                f"Interrupted during session {len(self.runs)} of {self.sessions}"
                + (
                    f"; {sessions_named(len(self.runs) + 1, self.sessions)} did not run."
                    if left
                    else "."
                ),
                red=True,
            )
        else:
            if self.stopped is not None:
                terminalreporter.write_line(self.stopped, red=True)
            rejected = self.merged.rejected
            if rejected:
                tests = "1 test" if len(rejected) == 1 else f"{len(rejected)} tests"
                terminalreporter.write_line(
                    f"Not accepted: {tests} without figures from all {self.sessions} sessions:",
                    red=True,
                )
                for item in rejected:
                    terminalreporter.write_line(item.line())
        subsessions.count_runs(terminalreporter, self.runs, "session")
