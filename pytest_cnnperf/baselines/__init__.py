"""Baseline storage, statistics, tolerances and verdicts.

Pure Python (standard library only): importable and testable without pytest,
TensorFlow or NumPy. The plugin builds a ``Measurement`` per test, resolves
its ``Tolerances``, loads the ``BaselineFile`` for the machine's
``HardwareKey``, calls ``compare`` and, in accept mode, ``update_baselines``.
"""

from __future__ import annotations

from pytest_cnnperf.baselines.compare import (
    Comparison,
    MetricComparison,
    Verdict,
    compare,
    count_verdicts,
    failed,
    software_changes,
)
from pytest_cnnperf.baselines.model import HardwareKey, Measurement, Software
from pytest_cnnperf.baselines.stats import (
    RatioInterval,
    SampleSummary,
    bootstrap_ratio_interval,
    mad,
    median,
    relative_mad,
)
from pytest_cnnperf.baselines.store import (
    SCHEMA_VERSION,
    Accepted,
    BaselineCorrupt,
    BaselineEntry,
    BaselineError,
    BaselineFile,
    BaselineHardwareMismatch,
    BaselineTooNew,
    BaselineWriteError,
    HistoryRecord,
    baseline_path,
    default_accepted_by,
    load_baselines,
    update_baselines,
)
from pytest_cnnperf.baselines.tolerances import (
    MetricTolerance,
    ToleranceOverrides,
    Tolerances,
    Violation,
    parse_accuracy_tolerance,
    parse_relative_tolerance,
    parse_tolerances,
    resolve_tolerances,
)

__all__ = [
    "SCHEMA_VERSION",
    "Accepted",
    "BaselineCorrupt",
    "BaselineEntry",
    "BaselineError",
    "BaselineFile",
    "BaselineHardwareMismatch",
    "BaselineTooNew",
    "BaselineWriteError",
    "Comparison",
    "HardwareKey",
    "HistoryRecord",
    "Measurement",
    "MetricComparison",
    "MetricTolerance",
    "RatioInterval",
    "SampleSummary",
    "Software",
    "ToleranceOverrides",
    "Tolerances",
    "Verdict",
    "Violation",
    "baseline_path",
    "bootstrap_ratio_interval",
    "compare",
    "count_verdicts",
    "default_accepted_by",
    "failed",
    "load_baselines",
    "mad",
    "median",
    "parse_accuracy_tolerance",
    "parse_relative_tolerance",
    "parse_tolerances",
    "relative_mad",
    "resolve_tolerances",
    "software_changes",
    "update_baselines",
]
