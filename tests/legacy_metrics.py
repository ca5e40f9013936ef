"""A bootstrap-judged timing metric for the unit tests of the generic noisy-metric path.

``epoch_seconds`` was the built-in timing metric up to baseline schema 3: per
epoch wall times, judged on a bootstrap interval of the samples of one run.
The built-in metric is now ``step_time`` (one calibrated estimate per run,
judged by ``judge_runs``); the bootstrap path still serves any noisy metric a
plugin declares without ``per_run``, and these tests exercise it through
this declaration.
"""

from __future__ import annotations

from pytest_cnnperf.metrics import ACCURACY, Metric, MetricRegistry, format_seconds
from pytest_cnnperf.outcome import TestOutcome


def _epoch_seconds(outcome: TestOutcome) -> tuple[float, ...]:
    return tuple(e.seconds for run in outcome.runs for e in run.measured_epochs)


EPOCH_SECONDS = Metric(
    name="epoch_seconds",
    unit="s",
    better="lower",
    relative=True,
    default_tolerance=0.25,
    read=_epoch_seconds,
    description="wall time of every measured (non-warm-up) epoch, repeats pooled",
    aliases=("epoch_time", "images_per_second"),
    cell=format_seconds,
    column="median epoch",
)

LEGACY_METRICS = (EPOCH_SECONDS, ACCURACY)


def legacy_registry() -> MetricRegistry:
    return MetricRegistry(LEGACY_METRICS)
