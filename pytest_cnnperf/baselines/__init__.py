"""Baseline storage, statistics, tolerances and verdicts.

Pure Python (standard library only): importable and testable without pytest,
TensorFlow or NumPy. The plugin builds a test's ``Figures`` from its outcome,
resolves its ``Tolerances``, loads the ``BaselineFile`` for the machine's
``HardwareKey``, calls ``compare`` and, in accept mode, ``update_baselines``.
Every step iterates over the session's ``MetricRegistry``.
"""

from __future__ import annotations

from pytest_cnnperf.baselines.compare import (
    Comparison,
    MetricComparison,
    compare,
    software_changes,
)
from pytest_cnnperf.baselines.model import (
    Figures,
    HardwareKey,
    Provenance,
    Software,
    Verdict,
)
from pytest_cnnperf.baselines.stats import (
    ChangeInterval,
    SampleSummary,
    bootstrap_interval,
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
    known_settings,
    overrides_from_settings,
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
    "ChangeInterval",
    "Comparison",
    "Figures",
    "HardwareKey",
    "HistoryRecord",
    "MetricComparison",
    "MetricTolerance",
    "Provenance",
    "SampleSummary",
    "Software",
    "ToleranceOverrides",
    "Tolerances",
    "Verdict",
    "baseline_path",
    "bootstrap_interval",
    "compare",
    "default_accepted_by",
    "known_settings",
    "load_baselines",
    "mad",
    "median",
    "overrides_from_settings",
    "parse_tolerances",
    "relative_mad",
    "resolve_tolerances",
    "software_changes",
    "update_baselines",
]
