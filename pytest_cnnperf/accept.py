"""Accepting figures as baselines: the accept command, and writing them at session end.

Called by the process that writes files, once, with every outcome of the
session. A baseline file that cannot be written loses nothing: the figures
are saved to a temporary file whose path is said.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import shlex
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pytest_cnnperf.baselines import (
    Accepted,
    BaselineError,
    BaselineWriteError,
    Verdict,
    baseline_path,
    default_accepted_by,
    update_baselines,
)

if TYPE_CHECKING:
    from pytest_cnnperf.baselines import Figures
    from pytest_cnnperf.config import CnnperfConfig
    from pytest_cnnperf.environment import EnvironmentSnapshot
    from pytest_cnnperf.metrics import MetricRegistry
    from pytest_cnnperf.outcome import TestOutcome


def accept_command(cfg: CnnperfConfig, *node_ids: str) -> str:
    """The exact command that runs these tests again and accepts their new figures."""
    from pytest_cnnperf.options import DEFAULT_BASELINE_DIR

    parts = ["pytest", *node_ids, "--cnnperf-update-baselines"]
    if cfg.backend != "tensorflow":
        parts.append(f"--cnnperf-backend={cfg.backend}")
    if cfg.gpu:
        parts.append("--cnnperf-gpu")
    if cfg.precision != "float32":
        parts.append(f"--cnnperf-precision={cfg.precision}")
    if getattr(cfg, "jit", False):
        parts.append("--cnnperf-jit=on")
    sessions = getattr(cfg, "sessions", None)
    if sessions:
        parts.append(f"--cnnperf-sessions={sessions}")
    default_dir = (cfg.rootdir / DEFAULT_BASELINE_DIR).resolve()
    if cfg.baseline_dir.resolve() != default_dir:
        parts.append(f"--cnnperf-baseline-dir={cfg.baseline_dir}")
    return shlex.join(parts) + ' --cnnperf-update-reason "<why the figures changed>"'


@dataclass
class AcceptResult:
    """What accepting did: lines for the terminal, and whether it failed."""

    messages: list[str] = field(default_factory=list)
    ok: bool = True


def acceptable(outcome: TestOutcome) -> bool:
    """A test's figures are accepted when it completed and trained."""
    return outcome.verdict is not Verdict.FAILED and bool(outcome.runs)


def interrupted_message(outcomes: Sequence[TestOutcome], cfg: CnnperfConfig) -> str:
    """What an interrupted session with --cnnperf-update-baselines says instead of accepting."""
    finished = [outcome.node_id for outcome in outcomes if acceptable(outcome)]
    if not finished:
        return (
            "The session was interrupted: no baseline was updated, and no test had finished "
            "with figures."
        )
    tests = "1 test" if len(finished) == 1 else f"{len(finished)} tests"
    them = "it" if len(finished) == 1 else "them"
    return (
        f"The session was interrupted: no baseline was updated. {tests} had finished with "
        f"figures; to accept {them}, run {them} again with:\n"
        f"  {accept_command(cfg, *finished)}\n"
        "(--cnnperf-update-interrupted accepts the tests that finished when a session is "
        "interrupted.)"
    )


def write_baselines(
    outcomes: Sequence[TestOutcome],
    snapshot: EnvironmentSnapshot,
    cfg: CnnperfConfig,
    registry: MetricRegistry,
) -> AcceptResult:
    """Accept the figures of every test that completed, in one write of the file.

    With ``--cnnperf-sessions`` the outcomes hold the runs of that many
    separate sessions (``acceptsessions``): each entry's ``timing`` records
    how many, and the message says so.
    """
    from pytest_cnnperf.baselines import Tolerances

    result = AcceptResult()
    path = baseline_path(cfg.baseline_dir, snapshot.hardware)
    sessions: int | None = getattr(cfg, "sessions", None)
    accepted = [
        Accepted(
            from_sessions(outcome.figures(registry), sessions),
            outcome.tolerances or Tolerances.defaults(registry),
            dict(snapshot.software),
        )
        for outcome in outcomes
        if acceptable(outcome)
    ]
    if not accepted:
        trained = sum(1 for outcome in outcomes if outcome.runs)
        if trained:
            tests = "test that trained" if trained == 1 else "tests that trained"
            result.messages.append(
                f"--cnnperf-update-baselines: nothing was accepted: the {trained} {tests} "
                f"failed (see above); {path} was left as it was."
            )
        else:
            result.messages.append(
                f"--cnnperf-update-baselines: no test completed with figures; {path} was left "
                "as it was."
            )
        return result
    try:
        update_baselines(
            path,
            snapshot.hardware,
            accepted,
            registry,
            reason=cfg.update_reason,
            who=default_accepted_by(),
            now=datetime.datetime.now(datetime.timezone.utc),
        )
    except BaselineWriteError as exc:
        result.ok = False
        try:
            fd, rescue = tempfile.mkstemp(prefix="cnnperf-unsaved-baselines-", suffix=".json")
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(exc.document)
        except OSError as second:
            result.messages.append(
                f"{exc}\nSaving the figures to a temporary file failed too "
                f"({second.strerror or second}); they are lost."
            )
            return result
        result.messages.append(
            f"{exc}\nThe figures that could not be written are saved in {rescue}."
        )
        return result
    except BaselineError as exc:
        result.messages.append(f"{exc}\nNo baseline was updated.")
        result.ok = False
        return result
    count = len(accepted)
    measured = f", measured in {sessions} separate sessions," if sessions else ""
    result.messages.append(
        f"Accepted the figures of {count} test{'s' if count != 1 else ''}{measured} as "
        f"baselines in {path}" + (f" ({cfg.update_reason})." if cfg.update_reason else ".")
    )
    return result


def from_sessions(figures: Figures, sessions: int | None) -> Figures:
    """``figures`` whose timing says that its runs came from ``sessions`` separate processes.

    Without a count (one session) or without a timing block (per-epoch
    timing) the figures are returned as they are: an entry without
    ``timing.sessions`` was measured in one session.
    """
    if not sessions or figures.timing is None:
        return figures
    return dataclasses.replace(figures, timing={**figures.timing, "sessions": sessions})
