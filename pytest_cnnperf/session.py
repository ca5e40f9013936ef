"""The per-session object: gathers records, prints the summary, writes files.

Workers and a plain run record each test's results on its report; the
process that prints (the xdist controller, or the only process) collects
them in ``pytest_runtest_logreport`` and is the only one that writes files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest

from pytest_cnnperf.results import AccuracyCheck, TestRecord, TrainResult, sort_records

if TYPE_CHECKING:
    from pytest_cnnperf.config import CnnperfConfig

REPORT_PROPERTY = "cnnperf"


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
        verdict = "failed" if failed else (self.verdict or "pass")
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


class CnnperfSession:
    """Registered as a plugin for the run; see the module docstring."""

    def __init__(self, config: pytest.Config, cfg: CnnperfConfig) -> None:
        self.config = config
        self.cfg = cfg
        self.records: dict[str, TestRecord] = {}

    # -- verdicts ----------------------------------------------------------

    def judge(self, item: pytest.Item, recorder: ItemRecorder) -> None:
        """Decide the verdict after the test body returned."""
        if recorder.runs:
            recorder.verdict = "pass"

    # -- collection of records (controller or single process) --------------

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        for name, value in report.user_properties:
            if name == REPORT_PROPERTY and isinstance(value, dict):
                record = TestRecord.from_dict(value)
                self.records[record.node_id] = record

    def sorted_records(self) -> list[TestRecord]:
        return sort_records(list(self.records.values()))

    # -- output --------------------------------------------------------------

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if is_worker(self.config) or self.cfg.json_path is None:
            return
        from pytest_cnnperf.jsonreport import write_results

        write_results(self.cfg.json_path, self.sorted_records(), self.cfg)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        records = self.sorted_records()
        if not records:
            return
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
        if self.cfg.json_path is not None:
            terminalreporter.write_line(f"cnnperf results written to {self.cfg.json_path}")
