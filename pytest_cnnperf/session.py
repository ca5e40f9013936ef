"""The per-session object: verdicts, records, the summary and the files.

Workers and a plain run record each test's results on its report; the
process that prints (the xdist controller, or the only process) collects
them in ``pytest_runtest_logreport`` and is the only one that writes files:
the results JSON and, with ``--cnnperf-update-baselines``, the baselines.

PYTEST_DONT_REWRITE: loaded in every pytest run, so pytest must not parse and
recompile it for assertion rewriting each time.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pytest_cnnperf.baselines import BaselineFile, HardwareKey, Measurement, Tolerances
    from pytest_cnnperf.config import CnnperfConfig

    # results is imported where records are made, not at plugin load: its
    # dataclasses cost milliseconds to create, in every pytest run.
    from pytest_cnnperf.results import AccuracyCheck, TestRecord, TrainResult

REPORT_PROPERTY = "cnnperf"
TOLERANCE_SETTINGS = {
    "tolerance_epoch_time": "epoch_time",
    "tolerance_images_per_second": "images_per_second",
    "tolerance_accuracy": "accuracy",
}


class CnnperfWarning(UserWarning):
    """A baseline verdict that does not fail the test (unstable, or --cnnperf-compare=warn)."""


@dataclass
class ItemRecorder:
    """What one test produced while it ran; becomes a ``TestRecord``."""

    node_id: str
    settings: dict[str, Any]
    model: str = ""
    dataset: str = ""
    runs: list[TrainResult] = field(default_factory=list)
    checks: list[AccuracyCheck] = field(default_factory=list)
    verdict: str | None = None
    comparison: dict[str, Any] = field(default_factory=dict)

    def add_run(self, result: TrainResult) -> None:
        self.runs.append(result)
        self.model = self.model or result.model
        self.dataset = self.dataset or result.dataset

    def add_check(self, check: AccuracyCheck) -> None:
        self.checks.append(check)

    def record(self, *, failed: bool) -> TestRecord:
        from pytest_cnnperf.results import TestRecord

        # A verdict set after the test body (regressed, say) stands even when
        # it failed the test; a test that failed before one is 'failed'.
        verdict = self.verdict or ("failed" if failed else "pass")
        return TestRecord(
            node_id=self.node_id,
            runs=tuple(self.runs),
            accuracy_checks=tuple(self.checks),
            verdict=verdict,
            model=self.model,
            dataset=self.dataset,
            comparison=dict(self.comparison),
        )


RECORD_KEY = pytest.StashKey[ItemRecorder]()


def is_worker(config: pytest.Config) -> bool:
    """True in an xdist worker: it reports, the controller writes."""
    return hasattr(config, "workerinput")


def measurement_of(record: TestRecord) -> Measurement:
    """The baseline module's view of a test's figures: measured epochs, pooled."""
    from pytest_cnnperf.baselines import Measurement

    last = record.runs[-1]
    return Measurement(
        node_id=record.node_id,
        model=record.model or last.model,
        dataset=record.dataset or last.dataset,
        batch_size=last.batch_size,
        epoch_seconds=record.epoch_seconds,
        images_per_second=record.images_per_second,
        accuracy=record.accuracy,
        data_source="synthetic" if last.data_source == "synthetic" else "real",
    )


class CnnperfSession:
    """Registered as a plugin for the run; see the module docstring."""

    def __init__(self, config: pytest.Config, cfg: CnnperfConfig) -> None:
        self.config = config
        self.cfg = cfg
        self.records: dict[str, TestRecord] = {}
        self._key: HardwareKey | None = None
        self._software: dict[str, str] | None = None
        self._baselines: BaselineFile | None = None
        self._baselines_error: str | None = None
        self._baselines_loaded = False
        self.baseline_messages: list[str] = []

    # -- the machine and its baselines --------------------------------------

    @property
    def hardware_key(self) -> HardwareKey:
        if self._key is None:
            from pytest_cnnperf import environment
            from pytest_cnnperf.baselines import HardwareKey

            hardware = environment.describe_hardware(gpu=self.cfg.gpu, precision=self.cfg.precision)
            self._key = HardwareKey(
                device_kind="gpu" if hardware.device_kind == "gpu" else "cpu",
                device_model=hardware.device_model,
                device_count=hardware.device_count,
                precision=hardware.precision,
            )
        return self._key

    @property
    def software(self) -> dict[str, str]:
        if self._software is None:
            from pytest_cnnperf import environment

            self._software = environment.software_fingerprint(gpu=self.cfg.gpu)
        return self._software

    @property
    def baseline_file(self) -> Path:
        from pytest_cnnperf.baselines import baseline_path

        return baseline_path(self.cfg.baseline_dir, self.hardware_key)

    def load_baselines(self) -> BaselineFile | None:
        """Read this machine's baseline file once; remember an error to report per test."""
        if not self._baselines_loaded:
            from pytest_cnnperf.baselines import BaselineError, load_baselines

            self._baselines_loaded = True
            try:
                self._baselines = load_baselines(self.baseline_file, self.hardware_key)
            except BaselineError as exc:
                self._baselines_error = str(exc)
            if self._baselines is not None:
                for warning in self._baselines.warnings:
                    warnings.warn(CnnperfWarning(warning), stacklevel=1)
        return self._baselines

    def tolerances_for(self, node_id: str, settings: dict[str, Any]) -> Tolerances:
        """Defaults < ini < command line < the test's own settings."""
        from pytest_cnnperf.baselines import ToleranceOverrides, resolve_tolerances
        from pytest_cnnperf.markers import resolve_profiled

        resolved = resolve_profiled(settings, self.cfg.device_kind)
        own = {
            TOLERANCE_SETTINGS[k]: v
            for k, v in resolved.items()
            if k in TOLERANCE_SETTINGS and v is not None
        }
        marker = ToleranceOverrides.from_mapping(own, source=f"the settings of {node_id}")
        return resolve_tolerances(self.cfg.tolerance_ini, self.cfg.tolerance_cli, marker)

    def accept_command(self, node_id: str) -> str:
        """The exact command that accepts this test's new figures."""
        parts = ["pytest", node_id, "--cnnperf-update-baselines"]
        if self.cfg.gpu:
            parts.append("--cnnperf-gpu")
        if self.cfg.precision != "float32":
            parts.append(f"--cnnperf-precision={self.cfg.precision}")
        from pytest_cnnperf.options import DEFAULT_BASELINE_DIR

        default_dir = (self.cfg.rootdir / DEFAULT_BASELINE_DIR).resolve()
        if self.cfg.baseline_dir.resolve() != default_dir:
            parts.append(f"--cnnperf-baseline-dir={self.cfg.baseline_dir}")
        import shlex

        command = shlex.join(parts)
        return command + ' --cnnperf-update-reason "<why the figures changed>"'

    # -- verdicts ------------------------------------------------------------

    def judge(self, item: pytest.Item, recorder: ItemRecorder) -> None:
        """Compare the test's figures with its baseline, after the test body returned."""
        if not recorder.runs:
            return
        cfg = self.cfg
        record = recorder.record(failed=False)
        try:
            tolerances = self.tolerances_for(recorder.node_id, recorder.settings)
        except ValueError as exc:
            pytest.fail(str(exc), pytrace=False)
        recorder.comparison = {"tolerances": tolerances.to_dict()}
        if cfg.compare_mode == "off" and not cfg.update_baselines:
            recorder.verdict = "pass"
            return
        from pytest_cnnperf.baselines import Verdict, compare

        baselines = self.load_baselines()
        if self._baselines_error is not None:
            recorder.verdict = "failed"
            if cfg.update_baselines:
                pytest.fail(
                    f"{self._baselines_error}\nNothing was accepted for {recorder.node_id}.",
                    pytrace=False,
                )
            pytest.fail(self._baselines_error, pytrace=False)
        entry = baselines.entries.get(recorder.node_id) if baselines else None
        comparison = compare(measurement_of(record), entry, tolerances, software_now=self.software)
        recorder.verdict = comparison.verdict.value
        recorder.comparison.update(comparison.to_dict())
        if cfg.update_baselines:
            return  # this run's figures become the baseline at session end
        message = comparison.message(self.baseline_file, self.accept_command(recorder.node_id))
        verdict = comparison.verdict
        if verdict is Verdict.REGRESSED:
            if cfg.compare_mode == "fail":
                pytest.fail(message, pytrace=False)
            warnings.warn(CnnperfWarning(message), stacklevel=1)
        elif verdict is Verdict.UNSTABLE:
            if cfg.strict and cfg.compare_mode == "fail":
                pytest.fail(message + "\n(--cnnperf-strict makes this a failure.)", pytrace=False)
            warnings.warn(CnnperfWarning(message), stacklevel=1)
        elif verdict is Verdict.NEW and cfg.require_baseline and cfg.compare_mode == "fail":
            pytest.fail(
                message + "\n(--cnnperf-require-baseline makes this a failure.)", pytrace=False
            )
        elif verdict is Verdict.IMPROVED:
            recorder.comparison["message"] = message

    # -- collection of records (controller or single process) --------------

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        for name, value in report.user_properties:
            if name == REPORT_PROPERTY and isinstance(value, dict):
                from pytest_cnnperf.results import TestRecord

                record = TestRecord.from_dict(value)
                self.records[record.node_id] = record

    def sorted_records(self) -> list[TestRecord]:
        from pytest_cnnperf.results import sort_records

        return sort_records(list(self.records.values()))

    # -- files ---------------------------------------------------------------

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if is_worker(self.config):
            return
        if self.cfg.update_baselines and not self.write_baselines():
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        if self.cfg.json_path is not None:
            from pytest_cnnperf.jsonreport import write_results

            write_results(self.cfg.json_path, self.sorted_records(), self.cfg)

    def write_baselines(self) -> bool:
        """Accept the figures of every test that completed; return False on an error."""
        import datetime
        import os
        import tempfile

        from pytest_cnnperf.baselines import (
            Accepted,
            BaselineError,
            BaselineWriteError,
            Tolerances,
            default_accepted_by,
            update_baselines,
        )

        accepted = []
        for record in self.sorted_records():
            if record.verdict == "failed" or not record.runs:
                continue
            stored = dict(record.comparison.get("tolerances") or {})
            tolerances = (
                Tolerances(
                    epoch_time_rel=stored["epoch_time"],
                    images_per_second_rel=stored["images_per_second"],
                    accuracy_abs=stored["accuracy"],
                )
                if stored
                else Tolerances()
            )
            accepted.append(Accepted(measurement_of(record), tolerances, dict(self.software)))
        if not accepted:
            self.baseline_messages.append(
                "--cnnperf-update-baselines: no test completed with figures; "
                f"{self.baseline_file} was left as it was."
            )
            return True
        path = self.baseline_file
        try:
            update_baselines(
                path,
                self.hardware_key,
                accepted,
                reason=self.cfg.update_reason,
                who=default_accepted_by(),
                now=datetime.datetime.now(datetime.timezone.utc),
            )
        except BaselineWriteError as exc:
            fd, rescue = tempfile.mkstemp(prefix="cnnperf-unsaved-baselines-", suffix=".json")
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(exc.document)
            self.baseline_messages.append(
                f"{exc}\nThe figures that could not be written are saved in {rescue}."
            )
            return False
        except BaselineError as exc:
            self.baseline_messages.append(f"{exc}\nNo baseline was updated.")
            return False
        self.baseline_messages.append(
            f"Accepted the figures of {len(accepted)} test{'s' if len(accepted) != 1 else ''} "
            f"as baselines in {path}"
            + (f" ({self.cfg.update_reason})." if self.cfg.update_reason else ".")
        )
        return True

    # -- output --------------------------------------------------------------

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        records = self.sorted_records()
        if records:
            from pytest_cnnperf.report import render_summary

            verbosity = self.config.get_verbosity()
            text = render_summary(
                records,
                color=terminalreporter.hasmarkup,
                width=self.config.get_terminal_writer().fullwidth,
                epoch_tables=verbosity >= 0,
            )
            terminalreporter.write_sep("=", "cnnperf")
            terminalreporter.write(text)
        for message in self.baseline_messages:
            terminalreporter.write_line(message)
        if records and self.cfg.json_path is not None:
            terminalreporter.write_line(f"cnnperf results written to {self.cfg.json_path}")
