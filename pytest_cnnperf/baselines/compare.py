"""Verdicts: this run's figures against the accepted baseline.

Timing metrics are judged on the ratio of medians current/baseline and its
bootstrap interval (see ``stats``), never one number against one number:

* ``regressed``: the whole interval lies beyond the tolerance on the bad side;
* ``improved``: the whole interval lies beyond it on the good side;
* ``unstable``: neither can be claimed because the noise is too large: the
  interval straddles the bad bound, or the current epochs' relative MAD
  exceeds the tolerance;
* ``pass``: otherwise.

Accuracy is one value per run and is judged in absolute points. A test's
verdict is the worst of its metrics (regressed > unstable > improved > pass);
``new`` means there is no comparable baseline and ``failed`` that the test
failed before it measured anything.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pytest_cnnperf.baselines.model import Measurement, Software
from pytest_cnnperf.baselines.stats import (
    DEFAULT_CONFIDENCE,
    DEFAULT_SEED,
    bootstrap_ratio_interval,
    median,
    relative_mad,
)
from pytest_cnnperf.baselines.store import BaselineEntry
from pytest_cnnperf.baselines.tolerances import (
    MetricTolerance,
    Tolerances,
    Violation,
    format_number,
)


class Verdict(str, enum.Enum):
    """The outcome for one test (``str`` so that it serializes as its value)."""

    PASS = "pass"
    REGRESSED = "regressed"
    IMPROVED = "improved"
    UNSTABLE = "unstable"
    NEW = "new"
    FAILED = "failed"


# Worst first: a test's verdict is that of its worst metric.
_SEVERITY = (Verdict.REGRESSED, Verdict.UNSTABLE, Verdict.IMPROVED, Verdict.PASS)


@dataclass(frozen=True)
class MetricComparison:
    """One metric of one test against its baseline, with every number.

    ``change`` is current/baseline (relative rules) or current - baseline
    (accuracy); ``interval_low``/``interval_high`` bound it, at
    ``confidence`` (None for a single value). ``low_confidence`` is True when
    a timing side had one sample. ``reason`` says why a metric is unstable.
    """

    tolerance: MetricTolerance
    verdict: Verdict
    baseline: float
    current: float
    change: float
    interval_low: float
    interval_high: float
    confidence: float | None
    low_confidence: bool
    baseline_count: int
    current_count: int
    current_relative_spread: float | None
    reason: str | None = None

    @property
    def metric(self) -> str:
        """The metric's name, e.g. ``"epoch_seconds"``."""
        return self.tolerance.metric

    def violation(self) -> Violation | None:
        """The ``Violation`` if this metric regressed, else None."""
        return self.tolerance.violation(
            self.baseline,
            self.current,
            interval=(self.interval_low, self.interval_high),
            confidence=self.confidence,
        )

    def describe(self) -> str:
        """One line with measured and baseline values, change, interval and tolerance."""
        rule = self.tolerance
        if rule.relative:
            measured = f"{rule.format_value(self.current)} (median of {self.current_count})"
            baseline = f"{rule.format_value(self.baseline)} (median of {self.baseline_count})"
        else:
            measured = rule.format_value(self.current)
            baseline = rule.format_value(self.baseline)
        text = f"{rule.metric}: measured {measured}, baseline {baseline}, "
        text += rule.format_change(self.change)
        if self.confidence is not None:
            text += (
                f" ({self.confidence:.0%} interval {rule.format_change_short(self.interval_low)}"
                f" to {rule.format_change_short(self.interval_high)})"
            )
        if self.low_confidence:
            text += " (one sample on a side: plain ratio, low confidence)"
        text += f"; tolerance: {rule.describe()}"
        if self.reason:
            text += f"; {self.reason}"
        return text

    def to_dict(self) -> dict[str, Any]:
        """The JSON form for the results file."""
        rule = self.tolerance
        return {
            "verdict": self.verdict.value,
            "baseline": self.baseline,
            "current": self.current,
            "change": self.change,
            "change_kind": "ratio" if rule.relative else "points",
            "interval_low": self.interval_low,
            "interval_high": self.interval_high,
            "confidence": self.confidence,
            "low_confidence": self.low_confidence,
            "baseline_count": self.baseline_count,
            "current_count": self.current_count,
            "current_relative_spread": self.current_relative_spread,
            "tolerance": rule.limit,
            "worse_bound": rule.worse_bound(),
            "better": rule.better,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Comparison:
    """The verdict for one test with what the summary, the JSON and messages need."""

    node_id: str
    verdict: Verdict
    metrics: tuple[MetricComparison, ...] = ()
    software_changes: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    measurement: Measurement | None = None
    baseline: BaselineEntry | None = None

    def metric(self, name: str) -> MetricComparison | None:
        """The comparison of metric ``name``, or None if it was not compared."""
        return next((m for m in self.metrics if m.metric == name), None)

    def software_text(self) -> str:
        """``tensorflow 2.20.0 -> 2.21.0, ...`` or ``no software change recorded``."""
        return ", ".join(self.software_changes) or "no software change recorded"

    def _provenance(self, baseline_file: str | os.PathLike[str]) -> str:
        if self.baseline is None:
            return f"Baseline file: {os.fspath(baseline_file)}."
        entry = self.baseline
        text = (
            f"Baseline file: {os.fspath(baseline_file)}, accepted {entry.accepted_at} "
            f"by {entry.accepted_by}"
        )
        return text + (f" ({entry.reason})." if entry.reason else ".")

    def _metric_lines(self, verdicts: tuple[Verdict, ...]) -> list[str]:
        return [f"  {m.describe()}" for m in self.metrics if m.verdict in verdicts]

    def _current_figures(self) -> str:
        m = self.measurement
        if m is None:
            return "no figures"
        text = (
            f"epoch median {format_number(median(m.epoch_seconds))} s, "
            f"{format_number(median(m.images_per_second))} images/s"
        )
        return text + (f", accuracy {m.accuracy:.2%}" if m.accuracy is not None else "")

    def message(self, baseline_file: str | os.PathLike[str], accept_command: str) -> str:
        """The text to show for this verdict.

        Args:
            baseline_file: the file the baseline was (or would be) stored in.
            accept_command: the exact command that accepts this run's figures.

        Returns:
            For ``regressed`` the failure text (metric, measured value,
            baseline value, tolerance, file, software changed since acceptance,
            the accept command); for ``unstable`` a warning; for ``improved``
            and ``new`` how to record the figures; a one-line summary for
            ``pass`` and ``failed``.
        """
        node = self.node_id
        if self.verdict is Verdict.REGRESSED:
            lines = [
                f"Training performance of {node} regressed beyond its tolerance:",
                *self._metric_lines((Verdict.REGRESSED,)),
                self._provenance(baseline_file),
                f"Software changed since acceptance: {self.software_text()}.",
                "If the new figures are expected, accept them as the baseline with:",
                f"  {accept_command}",
            ]
        elif self.verdict is Verdict.UNSTABLE:
            lines = [
                f"Training performance of {node} could not be judged: "
                "the timing noise is too large for the tolerance.",
                *self._metric_lines((Verdict.UNSTABLE,)),
                self._provenance(baseline_file),
                "To get a verdict, measure more epochs or repeats, run fewer tests in "
                "parallel on this machine, or widen this test's tolerance.",
            ]
        elif self.verdict is Verdict.IMPROVED:
            lines = [
                f"Training performance of {node} improved beyond its tolerance:",
                *self._metric_lines((Verdict.IMPROVED,)),
                self._provenance(baseline_file),
                f"Software changed since acceptance: {self.software_text()}.",
                "To keep the better figures as the baseline, so that a later slowdown is "
                "measured from them, run:",
                f"  {accept_command}",
            ]
        elif self.verdict is Verdict.NEW:
            lines = [
                f"No comparable baseline for {node} in {os.fspath(baseline_file)} "
                f"(measured {self._current_figures()})."
                if self.baseline is not None
                else f"No baseline for {node} on this hardware in {os.fspath(baseline_file)} "
                f"(measured {self._current_figures()}).",
                *self.notes,
                "To record these figures as its baseline, run:",
                f"  {accept_command}",
            ]
        elif self.verdict is Verdict.PASS:
            changes = ", ".join(
                f"{m.metric} {m.tolerance.format_change_short(m.change)}" for m in self.metrics
            )
            lines = [f"Training performance of {node} is within its tolerances: {changes}."]
        else:
            lines = [
                f"No performance verdict for {node}: the test failed before its figures "
                f"were measured ({' '.join(self.notes)})."
            ]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form for the results file (metrics keyed by name)."""
        entry = self.baseline
        m = self.measurement
        return {
            "node_id": self.node_id,
            "verdict": self.verdict.value,
            "metrics": {metric.metric: metric.to_dict() for metric in self.metrics},
            "software_changes": list(self.software_changes),
            "notes": list(self.notes),
            "current": None
            if m is None
            else {
                "epoch_seconds": median(m.epoch_seconds),
                "images_per_second": median(m.images_per_second),
                "accuracy": m.accuracy,
                "epoch_count": len(m.epoch_seconds),
            },
            "baseline": None
            if entry is None
            else {
                "accepted_at": entry.accepted_at,
                "accepted_by": entry.accepted_by,
                "reason": entry.reason,
            },
        }


def software_changes(accepted: Software, now: Software) -> tuple[str, ...]:
    """``("tensorflow 2.20.0 -> 2.21.0", ...)`` for every differing component, sorted."""
    changes = []
    for name in sorted(set(accepted) | set(now)):
        before, after = accepted.get(name), now.get(name)
        if before != after:
            changes.append(f"{name} {before or 'not recorded'} -> {after or 'not recorded'}")
    return tuple(changes)


def failed(node_id: str, *, reason: str) -> Comparison:
    """The verdict of a test that failed before its figures were measured."""
    return Comparison(node_id=node_id, verdict=Verdict.FAILED, notes=(reason,))


def _judge_timing(
    rule: MetricTolerance,
    baseline_samples: tuple[float, ...],
    current_samples: tuple[float, ...],
    *,
    confidence: float,
    seed: int,
) -> MetricComparison:
    interval = bootstrap_ratio_interval(
        current_samples, baseline_samples, confidence=confidence, seed=seed
    )
    spread = relative_mad(current_samples)
    low, high = interval.low, interval.high
    reason = None
    if interval.low_confidence and (
        rule.is_worse(interval.ratio) or rule.is_better(interval.ratio)
    ):
        # One sample on a side says nothing about noise: beyond the bound is
        # neither a regression nor an improvement that can be claimed.
        verdict = Verdict.UNSTABLE
        reason = (
            "a single measured epoch on one side cannot show a change with confidence; "
            "measure more epochs or pass --cnnperf-repeats"
        )
    elif rule.is_worse(low) and rule.is_worse(high):
        verdict = Verdict.REGRESSED
    elif rule.is_better(low) and rule.is_better(high):
        verdict = Verdict.IMPROVED
    elif spread > rule.limit:
        verdict = Verdict.UNSTABLE
        reason = (
            f"the current epochs vary by {spread:.0%} (relative MAD), "
            f"more than the {rule.limit:.0%} tolerance"
        )
    elif rule.is_worse(low) or rule.is_worse(high):
        verdict = Verdict.UNSTABLE
        reason = (
            f"the interval straddles the tolerance bound {rule.worse_bound():.3g}x, "
            "so neither a pass nor a regression can be claimed"
        )
    else:
        verdict = Verdict.PASS
    return MetricComparison(
        tolerance=rule,
        verdict=verdict,
        baseline=median(baseline_samples),
        current=median(current_samples),
        change=interval.ratio,
        interval_low=low,
        interval_high=high,
        confidence=None if interval.low_confidence else interval.confidence,
        low_confidence=interval.low_confidence,
        baseline_count=len(baseline_samples),
        current_count=len(current_samples),
        current_relative_spread=spread,
        reason=reason,
    )


def _judge_accuracy(rule: MetricTolerance, baseline: float, current: float) -> MetricComparison:
    change = rule.change(baseline, current)
    if rule.is_worse(change):
        verdict = Verdict.REGRESSED
    elif rule.is_better(change):
        verdict = Verdict.IMPROVED
    else:
        verdict = Verdict.PASS
    return MetricComparison(
        tolerance=rule,
        verdict=verdict,
        baseline=baseline,
        current=current,
        change=change,
        interval_low=change,
        interval_high=change,
        confidence=None,
        low_confidence=False,
        baseline_count=1,
        current_count=1,
        current_relative_spread=None,
    )


def _setup_differences(measurement: Measurement, entry: BaselineEntry) -> tuple[str, ...]:
    notes = []
    for name in ("model", "dataset", "batch_size", "data_source"):
        before, after = getattr(entry, name), getattr(measurement, name)
        if before != after:
            notes.append(
                f"The baseline entry was accepted with {name}={before!r} but this run used "
                f"{name}={after!r}, so their figures are not comparable."
            )
    return tuple(notes)


def compare(
    measurement: Measurement,
    entry: BaselineEntry | None,
    tolerances: Tolerances,
    *,
    software_now: Software,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = DEFAULT_SEED,
) -> Comparison:
    """Judge ``measurement`` against ``entry`` under ``tolerances``.

    Args:
        measurement: this run's figures for one test.
        entry: the accepted baseline, or None if there is none.
        tolerances: the resolved tolerances for this test.
        software_now: this run's software fingerprint, to report what changed
            since the baseline was accepted.
        confidence: two-sided coverage of the bootstrap interval.
        seed: bootstrap seed; equal inputs give equal verdicts.

    Returns:
        A ``Comparison``; ``Verdict.NEW`` when there is no entry or it was
        recorded for another model, dataset, batch size or data source.
    """
    if entry is None:
        return Comparison(measurement.node_id, Verdict.NEW, measurement=measurement)
    notes = _setup_differences(measurement, entry)
    changes = software_changes(entry.software, software_now)
    if notes:
        return Comparison(
            measurement.node_id,
            Verdict.NEW,
            software_changes=changes,
            notes=notes,
            measurement=measurement,
            baseline=entry,
        )
    metrics = [
        _judge_timing(
            tolerances.epoch_seconds_rule(),
            entry.epoch_seconds.samples,
            measurement.epoch_seconds,
            confidence=confidence,
            seed=seed,
        ),
        _judge_timing(
            tolerances.images_per_second_rule(),
            entry.images_per_second.samples,
            measurement.images_per_second,
            confidence=confidence,
            seed=seed,
        ),
    ]
    extra: list[str] = []
    if entry.accuracy is not None and measurement.accuracy is not None:
        metrics.append(
            _judge_accuracy(tolerances.accuracy_rule(), entry.accuracy, measurement.accuracy)
        )
    elif entry.accuracy is not None or measurement.accuracy is not None:
        side = "this run" if measurement.accuracy is None else "the baseline"
        extra.append(f"Accuracy was not compared: {side} has no accuracy figure.")
    verdict = next(
        v for v in _SEVERITY if any(m.verdict is v for m in metrics) or v is Verdict.PASS
    )
    return Comparison(
        measurement.node_id,
        verdict,
        metrics=tuple(metrics),
        software_changes=changes,
        notes=tuple(extra),
        measurement=measurement,
        baseline=entry,
    )


def count_verdicts(comparisons: Iterable[Comparison]) -> dict[str, int]:
    """Number of tests per verdict value, every verdict present (for summaries)."""
    counts = {verdict.value: 0 for verdict in Verdict}
    for comparison in comparisons:
        counts[comparison.verdict.value] += 1
    return counts
