"""What a verdict does to the test: fail it, warn, or let it pass.

A pure function of the verdict and the session's settings, so that every
combination is unit-tested without pytest. ``session`` applies the action.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pytest_cnnperf.baselines.model import Verdict

if TYPE_CHECKING:
    from pytest_cnnperf.config import CnnperfConfig


class Action(enum.Enum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True)
class Decision:
    """The action, and a line to add to the verdict's message (or None)."""

    action: Action
    note: str | None = None

    def text(self, message: str) -> str:
        return message if self.note is None else f"{message}\n{self.note}"


def decide(verdict: Verdict, cfg: CnnperfConfig) -> Decision:
    """The action for ``verdict`` under ``--cnnperf-compare``, ``--cnnperf-strict`` and
    ``--cnnperf-require-baseline``. An accept run (``--cnnperf-update-baselines``)
    never fails on a verdict: its figures become the baselines."""
    if cfg.update_baselines:
        return Decision(Action.PASS)
    failing = cfg.compare_mode == "fail"
    if verdict is Verdict.REGRESSED:
        return Decision(Action.FAIL if failing else Action.WARN)
    if verdict is Verdict.UNSTABLE:
        if cfg.strict and failing:
            return Decision(Action.FAIL, "(--cnnperf-strict makes this a failure.)")
        return Decision(Action.WARN)
    if verdict is Verdict.NEW and cfg.require_baseline and failing:
        return Decision(Action.FAIL, "(--cnnperf-require-baseline makes this a failure.)")
    return Decision(Action.PASS)
