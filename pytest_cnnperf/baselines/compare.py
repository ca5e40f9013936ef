"""Verdicts: this run's figures against the accepted baseline, metric by metric.

A noisy metric (timing) is judged on the change of medians (ratio or
difference) and its bootstrap interval (see ``stats``), never one number
against one number:

* ``regressed``: the whole interval lies beyond the tolerance on the bad side;
* ``improved``: the whole interval lies beyond it on the good side;
* ``unstable``: neither can be claimed because the noise is too large: the
  interval straddles the bad bound, the current samples' relative MAD
  exceeds the tolerance, or a side has a single sample;
* ``pass``: otherwise.

A timing metric with one estimate per run (``per_run``, step time) is
judged by the three-way rule of ``judge_runs`` instead, with the session as
its unit: a session's runs share its moment, so they give one estimate, and
only separate sessions (a baseline accepted with ``--cnnperf-sessions``, the
history file) are evidence of the noise.

A metric judged on its value (accuracy) compares the medians directly. A
test's verdict is the worst of its metrics (regressed > unstable > improved >
pass); ``new`` means there is no comparable baseline.

A metric measured per part that ``explains`` another (``layer_seconds``
explains ``step_time``) is compared only when that one regressed, part
by part with the bootstrap rule of a noisy metric (the profiled steps of
one run are its samples), and never changes the verdict: the
parts whose whole interval lies beyond the tolerance, and whose growth is
material, are named in the message with their before and after figures
(``Comparison.named_parts``). Material means at least ``MATERIAL_SHARE`` of
all parts' baseline time and at least ``EXPLAINED_SHARE`` of the parts'
total growth: on a CPU, layers whose ops ran beside a slowed one compete with
it for the cores and grow a little too; they are not what got slower.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pytest_cnnperf.baselines.model import Figures, Provenance, Software, Verdict
from pytest_cnnperf.baselines.stats import (
    DEFAULT_CONFIDENCE,
    DEFAULT_SEED,
    bootstrap_interval,
    geometric_mean,
    median,
    pooled_log_sd,
    relative_mad,
    t_quantile,
)
from pytest_cnnperf.baselines.store import BaselineEntry
from pytest_cnnperf.baselines.tolerances import MetricTolerance, Tolerances
from pytest_cnnperf.metrics import Metric, MetricRegistry

#: One-sided confidence of a regression (before confirmation) and of a pass.
REGRESSION_CONFIDENCE = 0.99
PASS_CONFIDENCE = 0.95
#: Fewest separate sessions, baseline and history together, whose spread is
#: trusted as the between-session noise: two degrees of freedom.
MIN_NOISE_SESSIONS = 3


@dataclass(frozen=True)
class RunJudgement:
    """The three-way rule on per-session estimates: every number of the verdict.

    ``change`` is ``exp(r)``, the ratio of the geometric means of the
    sessions' estimates; ``low``/``high`` its one-sided bounds (regression,
    pass confidence); ``noise`` the between-session log-SD used, with ``dof``
    degrees of freedom.
    """

    verdict: Verdict
    change: float
    low: float
    high: float
    noise: float
    dof: int
    standard_error: float
    reason: str | None


def judge_runs(
    baseline: Sequence[float],
    current: Sequence[float],
    noise: float,
    dof: int,
    tolerance: float,
    *,
    evidence: str | None = None,
) -> RunJudgement:
    """The rule for a timing metric with one estimate per independent session (lower is better).

    ``r = mean(log current) - mean(log baseline)``, ``SE = noise * sqrt(1/n_b
    + 1/n_c)`` with ``noise`` the between-session log-SD (``dof`` degrees of
    freedom, Student's t quantiles) and ``n_b``, ``n_c`` the sessions of each
    side (``_judge_per_run`` makes one estimate of each session's runs):

    * ``regressed`` when ``r - t99 * SE > 0`` (a slowdown with 99% one-sided
      confidence) and ``r > log(1 + tolerance / 2)`` (larger than half the
      tolerance, so that a tiny confident change on a quiet machine is not a
      failure);
    * ``improved`` the same on the faster side;
    * ``pass`` when ``r + t95 * SE < log(1 + tolerance)``: a slowdown as large as
      the tolerance is ruled out with 95% confidence;
    * ``unstable`` otherwise, and always with fewer than two degrees of freedom
      of noise: too little evidence is never a guess. ``evidence`` says what
      evidence there was, for that message.
    """
    ratio = geometric_mean(current) / geometric_mean(baseline)
    r = math.log(ratio)
    if dof < MIN_NOISE_SESSIONS - 1 or not math.isfinite(noise):
        had = evidence or f"noise from {_sessions(dof + 1)}"
        return RunJudgement(
            Verdict.UNSTABLE,
            ratio,
            math.nan,
            math.nan,
            noise,
            dof,
            math.nan,
            f"too little evidence of the between-session noise ({had}; {MIN_NOISE_SESSIONS} "
            "separate sessions are needed, and runs of one session count as one: they agree "
            "more closely than separate sessions do); accept with --cnnperf-sessions 3 or keep "
            "a history file (--cnnperf-history), to which every run adds a session",
        )
    se = noise * math.sqrt(1 / len(baseline) + 1 / len(current))
    t_reg = t_quantile(REGRESSION_CONFIDENCE, dof)
    t_pass = t_quantile(PASS_CONFIDENCE, dof)
    low, high = r - t_reg * se, r + t_pass * se
    bound = math.log(1 + tolerance)
    half = math.log(1 + tolerance / 2)
    reason = None
    if (low > 0 and r > half) or (r + t_reg * se < 0 and r < -half):
        verdict = Verdict.REGRESSED if r > 0 else Verdict.IMPROVED
        reason = (
            f"{'slower' if r > 0 else 'faster'} with {REGRESSION_CONFIDENCE:.0%} confidence, "
            f"and by more than half the tolerance ({tolerance / 2:.0%})"
        )
    elif high < bound:
        verdict = Verdict.PASS
    else:
        verdict = Verdict.UNSTABLE
        reason = (
            f"the between-session noise ({noise:.1%} per session) leaves a slowdown of up to "
            f"{math.exp(high) - 1:.0%} possible, so neither a pass (under {tolerance:.0%}) nor "
            "a regression can be claimed"
        )
    return RunJudgement(verdict, ratio, math.exp(low), math.exp(high), noise, dof, se, reason)


# Worst first: a test's verdict is that of its worst metric.
_SEVERITY = (Verdict.REGRESSED, Verdict.UNSTABLE, Verdict.IMPROVED, Verdict.PASS)

#: A part is named only if it grew by at least this share of all parts' baseline
#: time: a tiny layer's ratio can leave the band on noise without explaining anything.
MATERIAL_SHARE = 0.02
#: ... and by at least this share of the parts' total growth.
EXPLAINED_SHARE = 0.10
#: The message lists at most this many parts.
NAMED_PARTS_SHOWN = 8
#: At or below the floor per-layer samples get (``metrics.LAYER_FLOOR_SECONDS``).
_NO_TIME = 1.01e-6


@dataclass(frozen=True)
class MetricComparison:
    """One metric of one test against its baseline, with every number.

    ``change`` is current/baseline (relative metrics) or current - baseline;
    ``interval_low``/``interval_high`` bound it, at ``confidence`` (None for a
    single value). ``low_confidence`` is True when a noisy metric had one
    sample on a side. ``reason`` says why a metric is unstable.
    """

    rule: MetricTolerance
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
    noise: float | None = None
    noise_dof: int | None = None
    detail: str | None = None
    confirmation: float | None = None

    @property
    def metric(self) -> Metric:
        return self.rule.metric

    def describe(self) -> str:
        """One line with measured and baseline values, change, interval and tolerance."""
        metric = self.metric
        measured = metric.format_value(self.current)
        baseline = metric.format_value(self.baseline)
        if metric.per_run:
            measured += f" ({_runs(self.current_count)})"
            baseline += f" ({_runs(self.baseline_count)})"
        elif metric.noisy:
            measured += f" (median of {self.current_count})"
            baseline += f" (median of {self.baseline_count})"
        text = f"{metric.name}: measured {measured}, baseline {baseline}, "
        text += metric.format_change(self.change)
        if metric.per_run and self.noise is not None and not self.low_confidence:
            text += (
                f" (99% lower bound {metric.format_change_short(self.interval_low)}, 95% upper "
                f"bound {metric.format_change_short(self.interval_high)}; between-session "
                f"noise {self.noise:.1%} per session, from "
                f"{_sessions((self.noise_dof or 0) + 1)} or more)"
            )
        elif metric.per_run:
            pass
        elif self.confidence is not None:
            text += (
                f" ({self.confidence:.0%} interval {metric.format_change_short(self.interval_low)}"
                f" to {metric.format_change_short(self.interval_high)})"
            )
        if self.low_confidence:
            text += " (one sample on a side: plain change, low confidence)"
        text += f"; tolerance: {self.rule.describe()}"
        if self.reason:
            text += f"; {self.reason}"
        if self.confirmation is not None:
            text += (
                f"; measured again in this session (confirmation): "
                f"{metric.format_change(self.confirmation)}"
            )
        if self.detail:
            text += f"\n    {self.detail}"
        return text

    def to_dict(self) -> dict[str, Any]:
        """Plain data for the results JSON and the xdist report."""
        return {
            "metric": self.metric.name,
            "tolerance": self.rule.limit,
            "verdict": self.verdict.value,
            "baseline": self.baseline,
            "current": self.current,
            "change": self.change,
            "change_kind": "ratio" if self.metric.relative else "difference",
            "interval_low": self.interval_low,
            "interval_high": self.interval_high,
            "confidence": self.confidence,
            "low_confidence": self.low_confidence,
            "baseline_count": self.baseline_count,
            "current_count": self.current_count,
            "current_relative_spread": self.current_relative_spread,
            "worse_bound": self.rule.worse_bound(),
            "better": self.metric.better,
            "reason": self.reason,
            "noise": self.noise,
            "noise_dof": self.noise_dof,
            "detail": self.detail,
            "confirmation": self.confirmation,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], registry: MetricRegistry) -> MetricComparison:
        metric = registry.get(data["metric"])
        if metric is None:
            raise ValueError(f"expected a registered metric, got {data['metric']!r}")
        return cls(
            rule=MetricTolerance(metric, float(data["tolerance"])),
            verdict=Verdict(data["verdict"]),
            baseline=data["baseline"],
            current=data["current"],
            change=data["change"],
            interval_low=data["interval_low"],
            interval_high=data["interval_high"],
            confidence=data["confidence"],
            low_confidence=data["low_confidence"],
            baseline_count=data["baseline_count"],
            current_count=data["current_count"],
            current_relative_spread=data["current_relative_spread"],
            reason=data["reason"],
            noise=data.get("noise"),
            noise_dof=data.get("noise_dof"),
            detail=data.get("detail"),
            confirmation=data.get("confirmation"),
        )


def _runs(count: int) -> str:
    return f"{count} run" if count == 1 else f"{count} runs"


def _sessions(count: int) -> str:
    return f"{count} session" if count == 1 else f"{count} sessions"


@dataclass(frozen=True)
class Comparison:
    """The verdict for one test with everything its messages and outputs need.

    ``current`` holds this run's median per metric; ``baseline`` who accepted
    the entry compared against (None without one).
    """

    node_id: str
    verdict: Verdict
    metrics: tuple[MetricComparison, ...] = ()
    software_changes: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    current: Mapping[str, float] | None = None
    baseline: Provenance | None = None
    #: Parts of the metrics that explain a regressed one (per-layer times),
    #: compared only when it regressed.
    parts: tuple[MetricComparison, ...] = ()
    #: Why the GPU's timing cannot be trusted (throttled clocks, another
    #: process, starved for input; see ``discount_disturbed``).
    disturbances: tuple[str, ...] = ()

    def named_parts(self) -> list[MetricComparison]:
        """The parts that grew beyond the tolerance by a material amount, largest growth first."""
        total = sum(p.baseline for p in self.parts)
        growth = sum(max(p.current - p.baseline, 0.0) for p in self.parts)
        floor = max(MATERIAL_SHARE * total, EXPLAINED_SHARE * growth)
        named = [
            p
            for p in self.parts
            if p.verdict is Verdict.REGRESSED and p.current - p.baseline >= floor
        ]
        return sorted(named, key=lambda p: p.baseline - p.current)

    def _part_lines(self) -> list[str]:
        if not self.parts:
            return []
        family = self.parts[0].metric.family
        named = self.named_parts()
        counts = f"{self.parts[0].baseline_count} and {self.parts[0].current_count} profiled steps"
        if named:
            lines = [f"Layers whose time grew beyond the tolerance ({family}, {counts}):"]
            lines += [f"  {_part_line(p)}" for p in named[:NAMED_PARTS_SHOWN]]
            if len(named) > NAMED_PARTS_SHOWN:
                lines.append(f"  and {len(named) - NAMED_PARTS_SHOWN} more.")
            return lines
        largest = sorted(self.parts, key=lambda p: p.baseline - p.current)[:3]
        low = any(p.low_confidence for p in self.parts)
        why = (
            "too few profiled steps to name one with confidence"
            if low
            else "the slowdown is spread thin or lies outside the layers"
        )
        return [
            f"No layer's time grew beyond the tolerance by a material amount ({family}, "
            f"{counts}: {why}); the largest changes:",
            *(f"  {_part_line(p)}" for p in largest),
        ]

    def metric(self, name: str) -> MetricComparison | None:
        """The comparison of metric ``name``, or None if it was not compared."""
        return next((m for m in self.metrics if m.metric.name == name), None)

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

    def _current_figures(self, registry: MetricRegistry) -> str:
        parts = []
        for name, value in (self.current or {}).items():
            metric = registry.get(name)
            if metric is not None:
                parts.append(f"{name} {metric.format_value(value)}")
        return ", ".join(parts) or "no figures"

    def message(
        self,
        baseline_file: str | os.PathLike[str],
        accept_command: str,
        registry: MetricRegistry,
    ) -> str:
        """The text to show for this verdict.

        Args:
            baseline_file: the file the baseline was (or would be) stored in.
            accept_command: the exact command that accepts this run's figures.
            registry: the metrics, to print this run's figures for ``new``.

        Returns:
            For ``regressed`` the failure text (metric, measured value,
            baseline value, tolerance, file, software changed since acceptance,
            the accept command); for ``unstable`` a warning; for ``improved``
            and ``new`` how to record the figures; one line for ``pass``.
        """
        node = self.node_id
        if self.verdict is Verdict.REGRESSED:
            lines = [
                f"Training performance of {node} regressed:",
                *self._metric_lines((Verdict.REGRESSED,)),
                *self._part_lines(),
                self._provenance(baseline_file),
                f"Software changed since acceptance: {self.software_text()}.",
                "If the new figures are expected, accept them as the baseline with:",
                f"  {accept_command}",
            ]
        elif self.verdict is Verdict.UNSTABLE and self.disturbances:
            lines = [
                f"Training performance of {node} could not be judged: the GPU was disturbed "
                "while it was measured, so a slower time is no evidence of a regression:",
                *(f"  {reason}." for reason in self.disturbances),
                *self._metric_lines((Verdict.UNSTABLE,)),
                self._provenance(baseline_file),
                "To get a verdict, keep other processes off the GPU, let it cool or lift its "
                "power cap (nvidia-smi -q -d PERFORMANCE shows why clocks dropped), or feed it "
                "faster (a larger batch, a faster input pipeline), and run again.",
            ]
        elif self.verdict is Verdict.UNSTABLE:
            per_session = any(
                m.metric.per_run for m in self.metrics if m.verdict is Verdict.UNSTABLE
            )
            lines = [
                f"Training performance of {node} could not be judged: "
                "the timing noise is too large for the tolerance.",
                *self._metric_lines((Verdict.UNSTABLE,)),
                self._provenance(baseline_file),
                # Runs of one session are one estimate: only more sessions narrow the rule.
                "To get a verdict, keep a history file (--cnnperf-history) or accept the "
                "baseline from more sessions (--cnnperf-sessions), run fewer tests in parallel "
                "on this machine, or widen this test's tolerance."
                if per_session
                else "To get a verdict, measure more epochs or repeats, run fewer tests in "
                "parallel on this machine, or widen this test's tolerance.",
            ]
        elif self.verdict is Verdict.IMPROVED:
            lines = [
                f"Training performance of {node} improved:",
                *self._metric_lines((Verdict.IMPROVED,)),
                self._provenance(baseline_file),
                f"Software changed since acceptance: {self.software_text()}.",
                "To keep the better figures as the baseline, so that a later slowdown is "
                "measured from them, run:",
                f"  {accept_command}",
            ]
        elif self.verdict is Verdict.NEW:
            where = "" if self.baseline is not None else " on this hardware"
            adjective = "comparable " if self.baseline is not None else ""
            lines = [
                f"No {adjective}baseline for {node}{where} in {os.fspath(baseline_file)} "
                f"(measured {self._current_figures(registry)}).",
                *self.notes,
                "To record these figures as its baseline, run:",
                f"  {accept_command}",
            ]
        elif self.metrics:
            changes = ", ".join(
                f"{m.metric.name} {m.metric.format_change_short(m.change)}" for m in self.metrics
            )
            lines = [f"Training performance of {node} is within its tolerances: {changes}."]
        else:
            lines = [f"No metric of {node} could be compared with its baseline.", *self.notes]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for the results JSON and the xdist report (metrics keyed by name)."""
        entry = self.baseline
        return {
            "node_id": self.node_id,
            "verdict": self.verdict.value,
            "metrics": {m.metric.name: m.to_dict() for m in self.metrics},
            "software_changes": list(self.software_changes),
            "notes": list(self.notes),
            "current": None if self.current is None else dict(self.current),
            "baseline": None
            if entry is None
            else {
                "accepted_at": entry.accepted_at,
                "accepted_by": entry.accepted_by,
                "reason": entry.reason,
            },
            "parts": {p.metric.name: p.to_dict() for p in self.parts},
            "named_parts": [p.metric.name for p in self.named_parts()],
            "disturbances": list(self.disturbances),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], registry: MetricRegistry) -> Comparison:
        baseline = data.get("baseline")
        return cls(
            node_id=data["node_id"],
            verdict=Verdict(data["verdict"]),
            metrics=tuple(
                MetricComparison.from_dict(m, registry) for m in data.get("metrics", {}).values()
            ),
            software_changes=tuple(data.get("software_changes", ())),
            notes=tuple(data.get("notes", ())),
            current=None if data.get("current") is None else dict(data["current"]),
            baseline=None if baseline is None else Provenance(**baseline),
            parts=tuple(
                MetricComparison.from_dict(p, registry) for p in data.get("parts", {}).values()
            ),
            disturbances=tuple(data.get("disturbances", ())),
        )


def confirmed(first: Comparison, second: Comparison, registry: MetricRegistry) -> Comparison:
    """``first`` after the confirmation run: the test measured again in the session.

    Args:
        first: the comparison of the first measurement.
        second: that of the confirmation, against the same baseline.
        registry: the metrics, to find what each part explains.

    Returns:
        ``first`` with each metric that regressed there kept ``regressed``
        only if it regressed in ``second`` too, else made ``unstable`` with
        the reason; either way with the confirmation's change. The verdict
        is the worst metric's again, and the per-part comparisons (the
        layers a regression names) are kept only for the metrics they explain
        that are still regressed: a layer never explains a regression that
        was not confirmed.
    """
    merged = []
    for metric in first.metrics:
        repeat = second.metric(metric.metric.name)
        if metric.verdict is not Verdict.REGRESSED:
            merged.append(metric)
            continue
        still = repeat is not None and repeat.verdict is Verdict.REGRESSED
        merged.append(
            dataclasses.replace(
                metric,
                verdict=Verdict.REGRESSED if still else Verdict.UNSTABLE,
                confirmation=None if repeat is None else repeat.change,
                reason=metric.reason
                if still
                else (
                    "the first measurement regressed but the confirmation in this session "
                    f"did not ({'no figure' if repeat is None else repeat.verdict.value})"
                ),
            )
        )
    verdict = next(v for v in _SEVERITY if any(m.verdict is v for m in merged) or v is Verdict.PASS)
    regressed = {m.metric.name for m in merged if m.verdict is Verdict.REGRESSED}
    parts = tuple(
        p
        for p in first.parts
        if (declared := registry.get(p.metric.family)) is not None
        and declared.explains in regressed
    )
    return dataclasses.replace(first, metrics=tuple(merged), verdict=verdict, parts=parts)


def discount_disturbed(comparison: Comparison, disturbances: Sequence[str]) -> Comparison:
    """A timing regression measured on a disturbed GPU becomes ``unstable``.

    ``disturbances`` are the reasons from the run's GPU telemetry
    (``telemetry.RunTelemetry.disturbances``): clocks throttled by power or
    heat, another process on the GPU, or a GPU starved for input. Each noisy
    (timing) metric that regressed is unstable instead, with the reasons in
    its own; a figure judged on its value (accuracy) is not a timing and
    keeps its verdict. The reasons are kept on the comparison either way, for
    the JSON.
    """
    if not disturbances:
        return comparison
    reason = "timing not judged: " + "; ".join(disturbances)
    metrics = tuple(
        dataclasses.replace(m, verdict=Verdict.UNSTABLE, reason=reason)
        if m.verdict is Verdict.REGRESSED and m.metric.noisy
        else m
        for m in comparison.metrics
    )
    verdict = comparison.verdict
    if comparison.metrics:
        verdict = next(
            v for v in _SEVERITY if any(m.verdict is v for m in metrics) or v is Verdict.PASS
        )
    still = {m.metric.name for m in metrics if m.verdict is Verdict.REGRESSED}
    parts = tuple(p for p in comparison.parts if p.metric.explains in still)
    return dataclasses.replace(
        comparison,
        metrics=metrics,
        verdict=verdict,
        parts=parts,
        disturbances=tuple(disturbances),
    )


def _part_line(part: MetricComparison) -> str:
    """``conv1: 1.20 ms -> 3.40 ms per step, 2.83x (90% interval 2.61x to 3.05x)``."""
    metric = part.metric
    if part.baseline <= _NO_TIME:
        # The floor of a layer that ran no op: a ratio to it says nothing.
        return f"{metric.part}: no measurable time -> {_ms(part.current)} per step"
    text = (
        f"{metric.part}: {_ms(part.baseline)} -> {_ms(part.current)} per step, "
        f"{metric.format_change_short(part.change)}"
    )
    if part.confidence is not None:
        text += (
            f" ({part.confidence:.0%} interval {metric.format_change_short(part.interval_low)}"
            f" to {metric.format_change_short(part.interval_high)})"
        )
    elif part.low_confidence:
        text += " (one profiled step on a side: low confidence)"
    return text


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.3g} ms" if seconds < 1 else f"{seconds:.3g} s"


def software_changes(accepted: Software, now: Software) -> tuple[str, ...]:
    """``("tensorflow 2.20.0 -> 2.21.0", ...)`` for every differing component, sorted."""
    changes = []
    for name in sorted(set(accepted) | set(now)):
        before, after = accepted.get(name), now.get(name)
        if before != after:
            changes.append(f"{name} {before or 'not recorded'} -> {after or 'not recorded'}")
    return tuple(changes)


def _judge_noisy(
    rule: MetricTolerance,
    baseline_samples: tuple[float, ...],
    current_samples: tuple[float, ...],
    *,
    confidence: float,
    seed: int,
) -> MetricComparison:
    relative = rule.metric.relative
    interval = bootstrap_interval(
        current_samples, baseline_samples, relative=relative, confidence=confidence, seed=seed
    )
    spread = relative_mad(current_samples)
    low, high = interval.low, interval.high
    reason = None
    if interval.low_confidence and (
        rule.is_worse(interval.change) or rule.is_better(interval.change)
    ):
        # One sample on a side says nothing about noise: beyond the bound is
        # neither a regression nor an improvement that can be claimed.
        verdict = Verdict.UNSTABLE
        reason = (
            "a single measured sample on one side cannot show a change with confidence; "
            "measure more epochs or pass --cnnperf-repeats"
        )
    elif rule.is_worse(low) and rule.is_worse(high):
        verdict = Verdict.REGRESSED
    elif rule.is_better(low) and rule.is_better(high):
        verdict = Verdict.IMPROVED
    elif relative and spread > rule.limit:
        verdict = Verdict.UNSTABLE
        reason = (
            f"the current samples vary by {spread:.0%} (relative MAD), "
            f"more than the {rule.limit:.0%} tolerance"
        )
    elif rule.is_worse(low) or rule.is_worse(high):
        verdict = Verdict.UNSTABLE
        bound = rule.metric.format_change_short(rule.worse_bound())
        reason = (
            f"the interval straddles the tolerance bound {bound}, "
            "so neither a pass nor a regression can be claimed"
        )
    else:
        verdict = Verdict.PASS
    return MetricComparison(
        rule=rule,
        verdict=verdict,
        baseline=median(baseline_samples),
        current=median(current_samples),
        change=interval.change,
        interval_low=low,
        interval_high=high,
        confidence=None if interval.low_confidence else interval.confidence,
        low_confidence=interval.low_confidence,
        baseline_count=len(baseline_samples),
        current_count=len(current_samples),
        current_relative_spread=spread,
        reason=reason,
    )


def _judge_value(
    rule: MetricTolerance, baseline_samples: tuple[float, ...], current_samples: tuple[float, ...]
) -> MetricComparison:
    baseline, current = median(baseline_samples), median(current_samples)
    change = rule.change(baseline, current)
    if rule.is_worse(change):
        verdict = Verdict.REGRESSED
    elif rule.is_better(change):
        verdict = Verdict.IMPROVED
    else:
        verdict = Verdict.PASS
    return MetricComparison(
        rule=rule,
        verdict=verdict,
        baseline=baseline,
        current=current,
        change=change,
        interval_low=change,
        interval_high=change,
        confidence=None,
        low_confidence=False,
        baseline_count=len(baseline_samples),
        current_count=len(current_samples),
        current_relative_spread=None,
    )


#: The fields of an arrangement that must match for timings to be compared.
#: ``replicas`` (a mirrored strategy's devices) and ``xla`` are recorded only
#: when not the default (one device, XLA off), so that older baselines still match.
ARRANGEMENT_FIELDS = ("cores", "threads", "workers", "replicas", "xla")


def arrangement_of(timing: Mapping[str, Any] | None) -> dict[str, Any]:
    """The compared fields of a timing block's arrangement (empty without one)."""
    block = (timing or {}).get("arrangement") or {}
    return {name: block.get(name) for name in ARRANGEMENT_FIELDS if name in block}


def describe_arrangement(arrangement: Mapping[str, Any]) -> str:
    """``2 cores, 2 threads, 1 worker`` for messages."""
    if not arrangement:
        return "not recorded"
    return ", ".join(
        ("XLA on" if arrangement[name] else "XLA off")
        if name == "xla"
        else f"{arrangement[name]} {name if arrangement[name] != 1 else name[:-1]}"
        for name in ARRANGEMENT_FIELDS
        if name in arrangement
    )


def _kernel_median(timing: Mapping[str, Any] | None) -> float | None:
    values = [
        float(run["calibration_seconds"])
        for run in (timing or {}).get("runs", ())
        if isinstance(run, Mapping) and run.get("calibration_seconds")
    ]
    return median(values) if values else None


def _timing_summary(timing: Mapping[str, Any] | None) -> str | None:
    runs = [run for run in (timing or {}).get("runs", ()) if isinstance(run, Mapping)]
    if not runs:
        return None
    windows = runs[-1].get("windows") or []
    steps = [float(run["step_seconds"]) for run in runs if run.get("step_seconds")]
    kernel = _kernel_median(timing)
    text = f"{len(windows)} windows of {windows[0][1] if windows else '?'} steps"
    if steps:
        text += f", {median(steps) * 1000:.3g} ms a step (raw)"
    if kernel:
        text += f", reference kernel {kernel * 1000:.3g} ms"
    return text


def _judge_per_run(
    rule: MetricTolerance,
    figures: Figures,
    entry: BaselineEntry,
    history: Sequence[Sequence[float]],
) -> tuple[MetricComparison, tuple[str, ...]]:
    """The three-way rule on one estimate per run; notes about the machine and arrangement."""
    before = entry.figures.samples[rule.metric.name]
    now = figures.samples[rule.metric.name]
    notes: list[str] = []
    detail = (
        f"windows: this run {_timing_summary(figures.timing) or 'not recorded'}; "
        f"baseline {_timing_summary(entry.figures.timing) or 'not recorded'}"
    )
    arranged_now = arrangement_of(figures.timing)
    arranged_before = arrangement_of(entry.figures.timing)
    kernel_now = _kernel_median(figures.timing)
    kernel_before = _kernel_median(entry.figures.timing)
    if kernel_now and kernel_before:
        moved = kernel_now / kernel_before
        if abs(math.log(moved)) > math.log(1 + rule.limit):
            notes.append(
                f"The reference kernel took {moved:.3g}x its baseline time "
                f"({kernel_now * 1000:.3g} ms against {kernel_before * 1000:.3g} ms): the machine "
                "itself changed (a busy machine, another clock or CPU); step_time is judged "
                "relative to the kernel."
            )
    if arranged_now != arranged_before:
        before_text = describe_arrangement(arranged_before)
        reason = (
            f"timing not judged: the baseline was measured with {before_text}"
            f" and this run with {describe_arrangement(arranged_now)}; run with the baseline's "
            "arrangement (the same -n) or accept a baseline for this one"
        )
        change = geometric_mean(now) / geometric_mean(before)
        judgement = RunJudgement(
            Verdict.UNSTABLE, change, math.nan, math.nan, math.nan, 0, math.nan, reason
        )
    else:
        sessions = session_estimates(before, (entry.figures.timing or {}).get("sessions"))
        # A baseline of one session adds no noise evidence, only its level.
        groups = [sessions, *history] if len(sessions) > 1 else list(history)
        noise, dof = pooled_log_sd(groups)
        judgement = judge_runs(
            sessions,
            [geometric_mean(now)],
            noise,
            dof,
            rule.limit,
            evidence=_evidence(len(before), len(sessions), sum(len(g) for g in history)),
        )
    judged = math.isfinite(judgement.low) and math.isfinite(judgement.high)
    compared = MetricComparison(
        rule=rule,
        verdict=judgement.verdict,
        baseline=geometric_mean(before),
        current=geometric_mean(now),
        change=judgement.change,
        # Without noise there are no bounds: the plain change, flagged (JSON has no NaN).
        interval_low=judgement.low if judged else judgement.change,
        interval_high=judgement.high if judged else judgement.change,
        confidence=REGRESSION_CONFIDENCE if judged else None,
        low_confidence=not judged,
        baseline_count=len(before),
        current_count=len(now),
        current_relative_spread=None,
        reason=judgement.reason,
        noise=judgement.noise if math.isfinite(judgement.noise) else None,
        noise_dof=judgement.dof,
        detail=detail,
    )
    return compared, tuple(notes)


def session_estimates(runs: Sequence[float], sessions: object) -> list[float]:
    """One estimate per session of a baseline's runs: each session's geometric mean.

    ``sessions`` is the entry's ``timing.sessions`` (the runs in session
    order, as ``--cnnperf-sessions`` stores them). Without it, or when the
    runs do not split evenly into that many sessions, the runs came from one
    session and give one estimate.
    """
    count = sessions if isinstance(sessions, int) and not isinstance(sessions, bool) else 1
    if count < 2 or len(runs) % count:
        return [geometric_mean(runs)]
    size = len(runs) // count
    return [geometric_mean(runs[i : i + size]) for i in range(0, len(runs), size)]


def _evidence(runs: int, sessions: int, history: int) -> str:
    """What noise evidence a comparison had, for the too-little-evidence message."""
    baseline = (
        f"the baseline's {_runs(runs)} came from one session"
        if sessions == 1
        else f"the baseline's runs came from {sessions} sessions"
    )
    earlier = "no earlier session" if not history else f"{_sessions(history)}"
    return f"{baseline} and the history holds {earlier} of this test"


def _setup_differences(figures: Figures, entry: BaselineEntry) -> tuple[str, ...]:
    before, after = entry.figures.setup(), figures.setup()
    return tuple(
        f"The baseline entry was accepted with {name}={before[name]!r} but this run used "
        f"{name}={after[name]!r}, so their figures are not comparable."
        for name in before
        if before[name] != after[name]
    )


def compare(
    figures: Figures,
    entry: BaselineEntry | None,
    tolerances: Tolerances,
    registry: MetricRegistry,
    *,
    software_now: Software,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = DEFAULT_SEED,
    history: Mapping[str, Sequence[Sequence[float]]] | None = None,
) -> Comparison:
    """Judge ``figures`` against ``entry`` under ``tolerances``, metric by metric.

    Args:
        figures: this run's figures for one test.
        entry: the accepted baseline, or None if there is none.
        tolerances: the resolved tolerances for this test.
        registry: the metrics to judge.
        software_now: this run's software fingerprint, to report what changed
            since the baseline was accepted.
        confidence: two-sided coverage of the bootstrap interval.
        seed: bootstrap seed; equal inputs give equal verdicts.
        history: per metric, groups of independent earlier estimates of this
            test from the history file (one group per software
            fingerprint and arrangement), pooled with the baseline's runs
            into the between-session noise of a ``per_run`` metric.

    Returns:
        A ``Comparison``; ``Verdict.NEW`` when there is no entry or it was
        recorded for another model, data set, batch size or data source.
    """
    current = {
        name: median(values)
        for name, values in figures.samples.items()
        if (metric := registry.get(name)) is None or metric.part is None
    }
    if entry is None:
        return Comparison(figures.node_id, Verdict.NEW, current=current)
    notes = _setup_differences(figures, entry)
    changes = software_changes(entry.software, software_now)
    if notes:
        return Comparison(
            figures.node_id,
            Verdict.NEW,
            software_changes=changes,
            notes=notes,
            current=current,
            baseline=entry.provenance,
        )
    metrics: list[MetricComparison] = []
    extra: list[str] = []
    missing_timing = [
        metric.name
        for metric in registry
        if metric.per_run
        and figures.samples.get(metric.name)
        and metric.name not in entry.figures.samples
    ]
    if missing_timing:
        note = (
            f"The baseline entry has no {', '.join(missing_timing)} figure: it was accepted "
            "with another timing method (per-epoch seconds, before windows and the reference "
            "kernel), whose figures cannot be compared with these; accept again."
        )
        return Comparison(
            figures.node_id,
            Verdict.NEW,
            software_changes=changes,
            notes=(note,),
            current=current,
            baseline=entry.provenance,
        )
    for metric in registry:
        if metric.parts is not None or metric.explains is not None:
            continue  # compared below, and only to explain a regression
        if not metric.judged:
            continue  # recorded (telemetry), never judged
        now = figures.samples.get(metric.name)
        before = entry.figures.samples.get(metric.name)
        if now and before:
            rule = tolerances.rule(metric)
            if metric.per_run:
                compared, machine_notes = _judge_per_run(
                    rule, figures, entry, (history or {}).get(metric.name, ())
                )
                metrics.append(compared)
                extra.extend(machine_notes)
            elif metric.noisy:
                metrics.append(_judge_noisy(rule, before, now, confidence=confidence, seed=seed))
            else:
                metrics.append(_judge_value(rule, before, now))
        elif now or before:
            side = "the baseline" if now else "this run"
            extra.append(f"{metric.name} was not compared: {side} has no {metric.name} figure.")
    if not metrics:
        # Nothing in common is no evidence of a pass.
        return Comparison(
            figures.node_id,
            Verdict.NEW,
            software_changes=changes,
            notes=tuple(extra),
            current=current,
            baseline=entry.provenance,
        )
    verdict = next(
        v for v in _SEVERITY if any(m.verdict is v for m in metrics) or v is Verdict.PASS
    )
    parts: list[MetricComparison] = []
    regressed = {m.metric.name for m in metrics if m.verdict is Verdict.REGRESSED}
    for metric in registry:
        if metric.parts is None or metric.explains not in regressed:
            continue
        found, part_notes = _compare_parts(
            metric, figures, entry, tolerances, confidence=confidence, seed=seed
        )
        parts.extend(found)
        extra.extend(part_notes)
    return Comparison(
        figures.node_id,
        verdict,
        metrics=tuple(metrics),
        software_changes=changes,
        notes=tuple(extra),
        current=current,
        baseline=entry.provenance,
        parts=tuple(parts),
    )


def _compare_parts(
    metric: Metric,
    figures: Figures,
    entry: BaselineEntry,
    tolerances: Tolerances,
    *,
    confidence: float,
    seed: int,
) -> tuple[list[MetricComparison], list[str]]:
    """Each part present on both sides, by name, judged like a noisy metric with its tolerance."""
    prefix = metric.name + "/"
    now = {k[len(prefix) :]: v for k, v in figures.samples.items() if k.startswith(prefix)}
    before = {k[len(prefix) :]: v for k, v in entry.figures.samples.items() if k.startswith(prefix)}
    if not now or not before:
        side = "the baseline" if now else "this run"
        return [], [
            f"{metric.name} was not compared: {side} has no per-part figures "
            "(per-layer timing was off or skipped when it was measured)."
        ]
    limit = tolerances.rule(metric).limit
    # By name: the order the results file's sorted keys give them back in.
    found = [
        _judge_noisy(
            MetricTolerance(metric.part_metric(part), limit),
            before[part],
            now[part],
            confidence=confidence,
            seed=seed,
        )
        for part in sorted(now)
        if part in before
    ]
    return found, []
