"""Running pytest again in fresh processes, from a process that runs no test itself.

``--cnnperf-backends`` (``sidebyside``) runs the tests once per backend and
``--cnnperf-sessions`` (``acceptsessions``) once per independent session of
an accept. Both start ``python -m pytest`` with the original arguments less
their own options, one run after the other, pass each run's output through
as it comes, and read each run's results file back. This module is that
common part:

- the command line and the environment of a run (``pytest_command``,
  ``run_environment``, ``without_option``), and the check that the options to
  leave out can be left out (``unremovable_problem``);
- taking over the controlling process (``hand_over``): no workers, no cache
  plugins writing back what the runs wrote;
- running one process with its output passed through, Ctrl-C included
  (``run_pytest``), and reading what it left (``read_run``, ``ChildRun``);
- the names of exit statuses and the runs' counts in pytest's last line.

Imported only when one of those options is given.

PYTEST_DONT_REWRITE: part of the plugin, whose modules pytest must not
rewrite.
"""

from __future__ import annotations

import codecs
import dataclasses
import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

if TYPE_CHECKING:
    from pytest_cnnperf.metrics import MetricRegistry
    from pytest_cnnperf.outcome import TestOutcome

#: Replaced in each run by a results file of its own.
JSON_FLAG = "--cnnperf-json"
#: pytest and xdist plugins of the controlling process whose work each run
#: does itself: the xdist session would start workers that collect and run
#: tests here, and the cache plugins would write back, at the end, the
#: last-failed and new-first state read before the runs.
HANDED_OVER = (
    "dsession",
    "terminaldistreporter",
    "lfplugin",
    "nfplugin",
    "stepwiseplugin",
)
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


# --------------------------------------------------------------------------- command lines


def without_option(
    args: Sequence[str], flag: str, *, takes_value: bool = True
) -> tuple[list[str], int]:
    """``args`` without ``flag=VALUE`` or ``flag VALUE`` (``flag`` alone for a
    flag that takes no value); and how many were removed."""
    kept: list[str] = []
    removed = 0
    skip_value = False
    for arg in args:
        if skip_value:
            skip_value = False
        elif arg == flag:
            removed += 1
            skip_value = takes_value
        elif takes_value and arg.startswith(flag + "="):
            removed += 1
        else:
            kept.append(arg)
    return kept, removed


def takes_value(flag: str) -> bool:
    """Whether the ``--cnnperf-*`` option ``flag`` is given with a value (a flag is not)."""
    from pytest_cnnperf.options import OPTIONS

    return next((not option.is_flag for option in OPTIONS if option.flag == flag), True)


def without_options(args: Sequence[str], flags: Iterable[str]) -> tuple[list[str], int]:
    """``args`` without any of the ``--cnnperf-*`` options ``flags``; and how many were removed."""
    kept, removed = list(args), 0
    for flag in flags:
        kept, count = without_option(kept, flag, takes_value=takes_value(flag))
        removed += count
    return kept, removed


def pytest_command(
    args: Sequence[str], *, remove: Sequence[str], add: Sequence[str], color: bool
) -> list[str]:
    """``python -m pytest`` with ``args`` less the options ``remove``, then ``add``.

    A run's output goes to a pipe, so ``--color=yes`` keeps a colour
    terminal's colours unless the arguments say otherwise. ``add`` comes last:
    where an option is given twice, argparse keeps the last value.
    """
    kept, _ = without_options(args, remove)
    if color and not any(arg == "--color" or arg.startswith("--color=") for arg in kept):
        kept.append("--color=yes")
    return [sys.executable, "-m", "pytest", *kept, *add]


def run_environment(
    environ: Mapping[str, str],
    *,
    remove: Sequence[str],
    width: int,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment of a run: ``environ`` with ``extra`` set, ``PYTEST_ADDOPTS``
    less the options ``remove``, and ``COLUMNS`` this terminal's width unless set."""
    env = dict(environ)
    env.update(extra or {})
    addopts = env.get("PYTEST_ADDOPTS")
    if addopts:
        kept, removed = without_options(shlex.split(addopts), remove)
        if removed:
            env["PYTEST_ADDOPTS"] = shlex.join(kept)
    env.setdefault("COLUMNS", str(width))
    return env


def unremovable_problem(config: pytest.Config, flag: str, *, runs: str) -> str | None:
    """Why ``flag`` cannot be left out of each run, or None.

    It can be left out of the command line and of ``PYTEST_ADDOPTS``, not of
    the ``addopts`` ini option or an ``@file``.

    Args:
        runs: who is started, as the start of a sentence ("Each backend's run is").
    """
    remove = takes_value(flag)
    _, given = without_option(config.invocation_params.args, flag, takes_value=remove)
    addopts = shlex.split(os.environ.get("PYTEST_ADDOPTS", ""))
    from_environment = without_option(addopts, flag, takes_value=remove)[1]
    if given or from_environment:
        return None
    return (
        f"argument {flag}: expected it on the command line or in PYTEST_ADDOPTS, got it "
        f"from the addopts ini option or an @file. {runs} started with the same ini file and "
        "arguments less this option, which it cannot take out of those; "
        f"give {flag} on the command line."
    )


# --------------------------------------------------------------------------- the controller


def take_over(config: pytest.Config, problem: str | None) -> None:
    """Make this process the controller of its runs (``pytest_configure``).

    Raises:
        pytest.UsageError: ``problem``, the controller's usage problem, if any.
    """
    if problem is not None:
        raise pytest.UsageError(problem)
    hand_over(config)


def hand_over(config: pytest.Config) -> None:
    """Leave the runs' work to them: no xdist workers here, no cache written back.

    Called from ``pytest_configure``.
    """
    # xdist decides whether to distribute in its own pytest_configure, which
    # may run before or after this one: with no execution environments left
    # it distributes nothing, and a session it made already is unregistered.
    if getattr(config.option, "tx", None):
        config.option.tx = []
    for name in HANDED_OVER:
        if config.pluginmanager.has_plugin(name):
            config.pluginmanager.unregister(name=name)


# --------------------------------------------------------------------------- one run


@dataclass(frozen=True)
class Finished:
    """How a run's process ended: its exit status, last line, and whether Ctrl-C stopped it."""

    exit_status: int
    summary: str
    interrupted: bool


def run_pytest(
    config: pytest.Config, command: Sequence[str], env: Mapping[str, str], *, title: str
) -> Finished:
    """Run ``command`` where pytest was started, its output passed through as it comes.

    The output is written under a rule ``title`` and the command line. On
    Ctrl-C the run got the same signal: it is let finish its interrupted
    session and write its results (a second Ctrl-C kills it), and
    ``interrupted`` says so; the caller then stops.
    """
    terminal = config.pluginmanager.get_plugin("terminalreporter")
    if terminal is not None:
        terminal.write_sep("=", title, bold=True)
        terminal.write_line(shlex.join(command))
        terminal.flush()
    process = subprocess.Popen(
        list(command),
        cwd=config.invocation_params.dir,
        env=dict(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    interrupted = False
    try:
        tail = _pass_through(process, terminal)
    except KeyboardInterrupt:
        interrupted = True
        try:
            tail = _pass_through(process, terminal)
        except KeyboardInterrupt:
            process.kill()
            tail = ""
    status = process.wait()
    return Finished(status, last_line(tail), interrupted)


def _pass_through(process: subprocess.Popen[bytes], terminal: Any) -> str:
    """Write ``process``'s output through the terminal reporter as it comes; its last text."""
    assert process.stdout is not None
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    tail = ""
    while chunk := os.read(process.stdout.fileno(), 65536):
        text = decoder.decode(chunk)
        tail = (tail + text)[-4096:]
        if terminal is not None:
            terminal.write(text, flush=True)
    return tail


def last_line(text: str) -> str:
    """pytest's last line (``1 passed in 3.21s``) without its rules and colours."""
    lines = [line for line in _ANSI.sub("", text).splitlines() if line.strip()]
    return lines[-1].strip().strip("=").strip() if lines else ""


def exit_name(status: int) -> str:
    """``tests failed`` for 1: pytest's name of an exit status, in words."""
    try:
        return pytest.ExitCode(status).name.lower().replace("_", " ")
    except ValueError:
        return "not a pytest exit status"


@dataclass(frozen=True)
class ChildRun:
    """What one run's pytest process did.

    Args:
        name: the run, as messages name it (``jax``, ``session 2``).
        command: its command line.
        exit_status: its exit status.
        summary: its own last line of output (pytest's counts), or "".
        document: its results document as written, or None without one.
        outcomes: the tests of that document.
        problem: why the run's results could not be used (no file, or one that
            cannot be read), or None.
        interrupted: the run was interrupted (Ctrl-C).
    """

    name: str
    command: tuple[str, ...]
    exit_status: int
    summary: str = ""
    document: Mapping[str, Any] | None = None
    outcomes: tuple[TestOutcome, ...] = ()
    problem: str | None = None
    interrupted: bool = False

    @property
    def ok(self) -> bool:
        return self.exit_status == 0 and self.problem is None

    def status_line(self) -> str:
        """``jax: 1 passed in 3.21s (exit status 0)``, or ``(exit status 1: tests failed)``."""
        said = f"{self.summary} " if self.summary else ""
        status = str(self.exit_status)
        if self.exit_status:
            status += f": {exit_name(self.exit_status)}"
        return f"{self.name}: {said}(exit status {status})"

    def failure_lines(self) -> list[str]:
        """The failed tests of this run with their reason, each reason said once."""
        grouped: dict[str, list[str]] = {}
        for outcome in self.outcomes:
            if outcome.failure:
                reason = outcome.failure.strip().splitlines()[0]
                grouped.setdefault(reason, []).append(outcome.node_id)
        lines = []
        for reason, nodes in grouped.items():
            tests = nodes[0] if len(nodes) == 1 else f"{len(nodes)} tests ({', '.join(nodes)})"
            lines.append(f"  {self.name} failed {tests}: {reason}")
        return lines

    def to_dict(self, *, results: bool = True) -> dict[str, Any]:
        """Plain data; with ``results``, the run's whole results document too."""
        data: dict[str, Any] = {
            "command": list(self.command),
            "exit_status": self.exit_status,
            "summary": self.summary,
            "problem": self.problem,
            "interrupted": self.interrupted,
        }
        if results:
            data["results"] = None if self.document is None else dict(self.document)
        return data


Run = TypeVar("Run", bound=ChildRun)


def read_run(run: Run, results: Path, registry: MetricRegistry, *, missing: str) -> Run:
    """``run`` with what its results file holds, or with the problem that file has.

    Args:
        results: the file the run was given with ``--cnnperf-json``.
        registry: the session's metrics (each run has the same conftest files
            and plugins, so the same metrics).
        missing: the problem to say when the run wrote no results file.
    """
    from pytest_cnnperf.jsonreport import ResultsError, load_results

    if not results.exists():
        return dataclasses.replace(run, problem=missing)
    try:
        read = load_results(results, registry)
        document = json.loads(results.read_text(encoding="utf-8"))
    except ResultsError as error:
        return dataclasses.replace(run, problem=str(error))
    return dataclasses.replace(run, document=document, outcomes=read.outcomes)


# --------------------------------------------------------------------------- pytest's last line


class RunStat:
    """One run among pytest's terminal stats, so that its last line counts them.

    Other plugins read every entry there as a report, so this is an object
    with attributes (as ``report.SummaryError``).
    """

    nodeid = ""
    count_towards_summary = True

    def __init__(self, run: ChildRun) -> None:
        self.name = run.name
        self.exit_status = run.exit_status


def count_runs(terminalreporter: Any, runs: Sequence[ChildRun], noun: str) -> None:
    """Add ``1 <noun> failed, 2 <noun>s passed`` to pytest's last line."""
    for ok, word in ((False, "failed"), (True, "passed")):
        entries = [RunStat(run) for run in runs if run.ok is ok]
        if entries:
            key = f"{noun}{'s' if len(entries) > 1 else ''} {word}"
            terminalreporter.stats.setdefault(key, []).extend(entries)
