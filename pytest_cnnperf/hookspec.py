"""Hooks through which other plugins (and conftest.py files) extend pytest-cnnperf.

Registered with ``pytest_addhooks``. The plugin's own outputs are
implementations of these same hooks: the terminal summary
(``report.TerminalSummary``) and the results JSON (``jsonreport.JsonReport``)
read ``pytest_cnnperf_session_finish``, so a markdown or HTML report is one
more implementation, not a fork.

Every hook is called in the process that writes files: the only process of a
plain run, or the controller of an xdist run, never a worker (except
``pytest_cnnperf_add_metrics``, which every process calls, so that workers
measure and judge the same metrics).

PYTEST_DONT_REWRITE: loaded in every pytest run, so pytest must not parse and
recompile it for assertion rewriting each time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import pytest

    from pytest_cnnperf.metrics import MetricRegistry
    from pytest_cnnperf.outcome import TestOutcome
    from pytest_cnnperf.session import SessionReport

hookspec = pluggy.HookspecMarker("pytest")


@hookspec
def pytest_cnnperf_add_metrics(registry: MetricRegistry, config: pytest.Config) -> None:
    """Declare more metrics: call ``registry.register(Metric(...))``.

    Called once per process, the first time the session needs its metrics.
    A registered metric is read from every outcome, stored in the baselines,
    compared, written to the JSON and, with a ``column``, shown in the summary.
    """


@hookspec
def pytest_cnnperf_outcome(outcome: TestOutcome, config: pytest.Config) -> None:
    """One test's finished outcome, as soon as its report reaches this process."""


@hookspec
def pytest_cnnperf_session_finish(report: SessionReport, config: pytest.Config) -> None:
    """Every outcome of the session, the environment, and whether it was interrupted.

    Called once at the end, after the baselines were written. Implementations
    that write files append a line for the terminal to ``report.notes``, and
    call ``report.error(...)`` for a failure that must fail the session.
    """


@hookspec
def pytest_cnnperf_update_json(document: dict[str, Any], config: pytest.Config) -> None:
    """Change the results JSON document in place before it is written."""
