"""The per-session object: judging each test, collecting outcomes, finishing the session.

Each test's ``TestOutcome`` lives in its item's stash while it runs. After
the test body the session judges it (tolerances, comparison, verdict, the
policy's action); the report hook then puts the outcome, as plain data, on
the test report. The process that writes (the xdist controller, or the only
process) collects outcomes in ``pytest_runtest_logreport``, calls
``pytest_cnnperf_outcome`` for each, and at the end writes the baselines
(with ``--cnnperf-update-baselines``) and calls
``pytest_cnnperf_session_finish``, which the summary and the JSON implement.

PYTEST_DONT_REWRITE: loaded in every pytest run, so pytest must not parse and
recompile it for assertion rewriting each time.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_cnnperf.config import registry_for

if TYPE_CHECKING:
    from pytest_cnnperf.baselines import BaselineFile, Comparison, Tolerances
    from pytest_cnnperf.baselines.history import History
    from pytest_cnnperf.config import CnnperfConfig
    from pytest_cnnperf.environment import EnvironmentSnapshot
    from pytest_cnnperf.metrics import MetricRegistry

    # outcome is imported where outcomes are made, not at plugin load: its
    # dataclasses cost milliseconds to create, in every pytest run.
    from pytest_cnnperf.outcome import TestOutcome

REPORT_PROPERTY = "cnnperf"


class CnnperfWarning(pytest.PytestWarning):
    """A verdict that does not fail the test (unstable, or --cnnperf-compare=warn)."""


OUTCOME_KEY = pytest.StashKey["TestOutcome"]()
SETTINGS_KEY = pytest.StashKey[dict[str, Any]]()
#: Trains the test's runs again, for ``--cnnperf-confirm`` (set by the runner).
CONFIRM_KEY = pytest.StashKey[Callable[[], list[Any]]]()


def is_worker(config: pytest.Config) -> bool:
    """True in an xdist worker: it reports, the controller writes."""
    return hasattr(config, "workerinput")


@dataclass
class SessionReport:
    """What ``pytest_cnnperf_session_finish`` receives.

    ``notes`` are lines printed under the summary (writers append where they
    wrote); ``errors`` are failures that fail the session (a file that could
    not be written), printed there too. The environment is described when
    first asked for, so that a run without cnnperf tests pays nothing.
    """

    outcomes: tuple[TestOutcome, ...]
    interrupted: bool
    session: CnnperfSession
    notes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def environment(self) -> EnvironmentSnapshot:
        return self.session.snapshot

    @property
    def registry(self) -> MetricRegistry:
        return self.session.registry

    def error(self, message: str) -> None:
        self.errors.append(message)


class CnnperfSession:
    """Registered as a plugin for every run; see the module docstring."""

    def __init__(self, config: pytest.Config, cfg: CnnperfConfig) -> None:
        self.config = config
        self.cfg = cfg
        self.outcomes: dict[str, TestOutcome] = {}
        self._snapshot: EnvironmentSnapshot | None = None
        self._baselines: BaselineFile | None = None
        self._baselines_error: str | None = None
        self._baselines_loaded = False
        self._history: History | None = None

    # -- the machine and its baselines --------------------------------------

    @property
    def registry(self) -> MetricRegistry:
        return registry_for(self.config)

    @property
    def snapshot(self) -> EnvironmentSnapshot:
        """This process's environment, described once."""
        if self._snapshot is None:
            from pytest_cnnperf.environment import take_snapshot

            self._snapshot = take_snapshot(gpu=self.cfg.gpu, precision=self.cfg.precision)
        return self._snapshot

    @property
    def baseline_file(self) -> Path:
        from pytest_cnnperf.baselines import baseline_path

        return baseline_path(self.cfg.baseline_dir, self.snapshot.hardware)

    def load_baselines(self) -> BaselineFile | None:
        """Read this machine's baseline file once; remember an error to report per test."""
        if not self._baselines_loaded:
            from pytest_cnnperf.baselines import BaselineError, load_baselines

            self._baselines_loaded = True
            try:
                self._baselines = load_baselines(
                    self.baseline_file, self.snapshot.hardware, self.registry
                )
            except BaselineError as exc:
                self._baselines_error = str(exc)
            if self._baselines is not None:
                for warning in self._baselines.warnings:
                    warnings.warn(CnnperfWarning(warning), stacklevel=1)
        return self._baselines

    def history(self) -> History:
        """The history file's lines, read once, when the first test is judged."""
        if self._history is None:
            from pytest_cnnperf.baselines.history import History, read_history

            path = self.cfg.history_path
            self._history = History() if path is None else read_history(path)
        return self._history

    def history_groups(self, outcome: TestOutcome) -> dict[str, list[list[float]]]:
        """Per per-run metric, the history's groups of earlier estimates of this test."""
        arrangement = (outcome.timing() or {}).get("arrangement") or {}
        history = self.history()
        slug = self.snapshot.hardware.slug()
        return {
            metric.name: history.groups(outcome.node_id, slug, arrangement, metric.name)
            for metric in self.registry
            if metric.per_run
        }

    def append_history(self, outcome: TestOutcome) -> None:
        """One line per per-run metric of this test, appended to the history file."""
        path = self.cfg.history_path
        if path is None or not outcome.runs:
            return
        from pytest_cnnperf.baselines.history import HistoryLine, append_history

        timing = outcome.timing() or {}
        samples = outcome.samples(self.registry)
        lines = [
            HistoryLine(
                node_id=outcome.node_id,
                hardware=self.snapshot.hardware.slug(),
                arrangement=timing.get("arrangement") or {},
                metric=metric.name,
                estimates=samples[metric.name],
                calibration_seconds=tuple(
                    run["calibration_seconds"]
                    for run in timing.get("runs", ())
                    if run.get("calibration_seconds")
                ),
                software=self.snapshot.software,
            )
            for metric in self.registry
            if metric.per_run and metric.name in samples
        ]
        append_history(path, lines)

    def _compare(self, outcome: TestOutcome, tolerances: Tolerances, entry: Any) -> Comparison:
        from pytest_cnnperf.baselines import compare

        return compare(
            outcome.figures(self.registry),
            entry,
            tolerances,
            self.registry,
            software_now=self.snapshot.software,
            history=self.history_groups(outcome),
        )

    def _confirm(
        self, item: pytest.Item, outcome: TestOutcome, tolerances: Tolerances, entry: Any
    ) -> tuple[TestOutcome, Comparison]:
        """Measure the test again; regressed only when both measurements regressed."""
        from pytest_cnnperf.baselines import Verdict
        from pytest_cnnperf.baselines.compare import confirmed

        first = self._compare(outcome, tolerances, entry)
        confirm = item.stash.get(CONFIRM_KEY, None)
        if first.verdict is not Verdict.REGRESSED or not self.cfg.confirm or confirm is None:
            return outcome, first
        again = outcome.replace(runs=tuple(confirm()))
        second = self._compare(again, tolerances, entry)
        # Both measurements are kept: the runs of the confirmation follow the first ones.
        both = outcome.replace(runs=(*outcome.runs, *again.runs))
        return both, confirmed(first, second, self.registry)

    def _discount_disturbed(self, outcome: TestOutcome, comparison: Comparison) -> Comparison:
        """A timing regression on a throttled, shared or starved GPU is unstable."""
        from pytest_cnnperf.baselines.compare import discount_disturbed
        from pytest_cnnperf.telemetry import disturbances_of

        found = disturbances_of(run.telemetry for run in outcome.runs)
        return discount_disturbed(comparison, found)

    def tolerances_for(self, node_id: str, settings: dict[str, Any]) -> Tolerances:
        """Defaults < ini < command line < the test's own settings."""
        from pytest_cnnperf.baselines import overrides_from_settings, resolve_tolerances
        from pytest_cnnperf.markers import resolve_profiled

        marker = overrides_from_settings(
            resolve_profiled(settings, self.cfg.device_kind),
            self.registry,
            source=f"the settings of {node_id}",
        )
        from pytest_cnnperf.baselines import ToleranceOverrides

        profile = (
            ToleranceOverrides(
                {m.name: m.gpu_tolerance for m in self.registry if m.gpu_tolerance is not None}
            )
            if self.cfg.gpu
            else None
        )
        return resolve_tolerances(
            self.registry, profile, self.cfg.tolerance_ini, self.cfg.tolerance_cli, marker
        )

    # -- verdicts ------------------------------------------------------------

    def judge(self, item: pytest.Item) -> None:
        """Compare the test's figures with its baseline, after the test body returned.

        Stores the judged outcome in the item's stash, then fails or warns as
        ``policy.decide`` says, without a traceback.
        """
        outcome = item.stash[OUTCOME_KEY]
        if not outcome.runs:
            return
        from pytest_cnnperf.baselines import Verdict
        from pytest_cnnperf.policy import Action, decide

        problem: str | None = None
        try:
            tolerances = self.tolerances_for(outcome.node_id, item.stash[SETTINGS_KEY])
        except ValueError as exc:
            problem = str(exc)
        if problem is not None:
            # Failed outside the except block, so that the message is said once.
            item.stash[OUTCOME_KEY] = outcome.replace(verdict=Verdict.FAILED, message=problem)
            pytest.fail(problem, pytrace=False)
        outcome = outcome.replace(tolerances=tolerances)
        cfg = self.cfg
        if cfg.compare_mode == "off" and not cfg.update_baselines:
            item.stash[OUTCOME_KEY] = outcome.replace(verdict=Verdict.PASS)
            return
        baselines = self.load_baselines()
        if self._baselines_error is not None:
            message = self._baselines_error
            if cfg.update_baselines:
                message += f"\nNothing was accepted for {outcome.node_id}."
            item.stash[OUTCOME_KEY] = outcome.replace(verdict=Verdict.FAILED, message=message)
            pytest.fail(message, pytrace=False)
        entry = baselines.entries.get(outcome.node_id) if baselines else None
        outcome, comparison = self._confirm(item, outcome, tolerances, entry)
        comparison = self._discount_disturbed(outcome, comparison)
        if not cfg.update_baselines:
            # After the comparison: a run's own estimate is never part of its noise.
            self.append_history(outcome)
        from pytest_cnnperf.accept import accept_command

        decision = decide(comparison.verdict, cfg)
        text = decision.text(
            comparison.message(
                self.baseline_file, accept_command(cfg, outcome.node_id), self.registry
            )
        )
        shown = comparison.verdict is not Verdict.PASS and not cfg.update_baselines
        item.stash[OUTCOME_KEY] = outcome.replace(
            comparison=comparison, verdict=comparison.verdict, message=text if shown else None
        )
        if decision.action is Action.FAIL:
            pytest.fail(text, pytrace=False)
        if decision.action is Action.WARN:
            # Point the warning at the test, not at this module.
            path, lineno, _ = item.location
            warnings.warn_explicit(
                CnnperfWarning(text),
                CnnperfWarning,
                filename=str(item.config.rootpath / path),
                lineno=(lineno or 0) + 1,
            )

    # -- collection of outcomes (controller or single process) ---------------

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        for name, value in report.user_properties:
            if name == REPORT_PROPERTY and isinstance(value, dict):
                from pytest_cnnperf.outcome import TestOutcome

                self.record(TestOutcome.from_dict(value, self.registry))

    def record(self, outcome: TestOutcome) -> None:
        """Keep a test's outcome for the end of the session, and pass it to the hook.

        Called for each test's report, and by ``acceptsessions`` for the
        outcomes merged from its sessions.
        """
        self.outcomes[outcome.node_id] = outcome
        self.config.hook.pytest_cnnperf_outcome(outcome=outcome, config=self.config)

    def sorted_outcomes(self) -> list[TestOutcome]:
        """By node id, so that xdist runs print and write the same as serial ones."""
        return sorted(self.outcomes.values(), key=lambda outcome: outcome.node_id)

    # -- the end ---------------------------------------------------------------

    def telemetry_notes(self, outcomes: tuple[TestOutcome, ...]) -> list[str]:
        """Why GPU telemetry (or the GPU fingerprint) is missing: each cause said once."""
        from pytest_cnnperf.telemetry import telemetry_errors

        found = dict.fromkeys(
            telemetry_errors(run.telemetry for outcome in outcomes for run in outcome.runs)
        )
        if self.snapshot.nvml_error:
            found[self.snapshot.nvml_error] = None
        return list(found)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if is_worker(self.config):
            return
        report = SessionReport(
            outcomes=tuple(self.sorted_outcomes()),
            interrupted=exitstatus == pytest.ExitCode.INTERRUPTED,
            session=self,
        )
        if self.cfg.gpu:
            report.notes.extend(self.telemetry_notes(report.outcomes))
        if self.cfg.update_baselines and report.interrupted and not self.cfg.update_interrupted:
            # Half a session's figures are not accepted unless the user said so.
            from pytest_cnnperf.accept import interrupted_message

            report.notes.append(interrupted_message(report.outcomes, self.cfg))
        elif self.cfg.update_baselines:
            from pytest_cnnperf.accept import write_baselines

            accepted = write_baselines(report.outcomes, self.snapshot, self.cfg, self.registry)
            (report.notes if accepted.ok else report.errors).extend(accepted.messages)
        self.config.hook.pytest_cnnperf_session_finish(report=report, config=self.config)
        if report.errors and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
