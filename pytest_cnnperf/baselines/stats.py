"""Robust summaries of timing samples and a bootstrap interval for their change.

Epoch times on a shared machine have outliers (a neighbour's job, a page
cache miss), so the center is the median and the spread the median absolute
deviation, scaled by 1.4826 so that it estimates the standard deviation of
normally distributed samples. Whether the current run differs from the
baseline is judged on the change of medians (their ratio for a relative
metric, their difference for an absolute one) with a percentile bootstrap
interval, resampling both sample sets; the generator is seeded, so the same
samples always give the same interval and the same verdict.
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

MAD_SCALE = 1.4826
"""Makes the MAD of normal samples an estimate of their standard deviation."""

DEFAULT_CONFIDENCE = 0.90
"""Two-sided, so a verdict beyond one bound is 95% one-sided confidence."""

DEFAULT_RESAMPLES = 2000
DEFAULT_SEED = 20240229


def median(samples: Sequence[float]) -> float:
    """The median; raises ValueError on an empty sequence."""
    if not samples:
        raise ValueError("Expected at least one sample to take the median of. Received: samples=[]")
    return float(statistics.median(samples))


def geometric_mean(samples: Sequence[float]) -> float:
    """The geometric mean of positive ``samples``: ``exp`` of the mean of their logs."""
    return math.exp(sum(math.log(x) for x in samples) / len(samples))


def mad(samples: Sequence[float]) -> float:
    """Median absolute deviation from the median, scaled by ``MAD_SCALE``."""
    center = median(samples)
    return MAD_SCALE * float(statistics.median([abs(x - center) for x in samples]))


def relative_mad(samples: Sequence[float]) -> float:
    """``mad(samples) / median(samples)``: the noise as a fraction of the center."""
    center = median(samples)
    if center == 0:
        return math.inf if mad(samples) else 0.0
    return mad(samples) / abs(center)


@dataclass(frozen=True)
class SampleSummary:
    """Center (median), spread (scaled MAD), count and the samples themselves."""

    center: float
    spread: float
    count: int
    samples: tuple[float, ...]

    @classmethod
    def of(cls, samples: Sequence[float]) -> SampleSummary:
        """Summarize ``samples`` (at least one)."""
        values = tuple(float(x) for x in samples)
        return cls(center=median(values), spread=mad(values), count=len(values), samples=values)


@dataclass(frozen=True)
class ChangeInterval:
    """The change of medians (current/baseline, or current - baseline) and its interval.

    ``low_confidence`` is True when either side had a single sample: then
    there is nothing to resample, ``low == change == high`` and the verdict
    rests on one number.
    """

    change: float
    low: float
    high: float
    confidence: float
    resamples: int
    low_confidence: bool


def _percentile(sorted_values: Sequence[float], q: float) -> float:
    # Linear interpolation between closest ranks (numpy's default method).
    position = q * (len(sorted_values) - 1)
    lower = math.floor(position)
    upper = min(lower + 1, len(sorted_values) - 1)
    weight = position - lower
    return sorted_values[lower] * (1 - weight) + sorted_values[upper] * weight


def bootstrap_interval(
    current: Sequence[float],
    baseline: Sequence[float],
    *,
    relative: bool = True,
    confidence: float = DEFAULT_CONFIDENCE,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
) -> ChangeInterval:
    """Percentile bootstrap interval of median(current) / median(baseline).

    With ``relative=False``, of median(current) - median(baseline) instead.

    Both sample sets are resampled with replacement ``resamples`` times; the
    interval holds the central ``confidence`` share of the resampled changes.

    Args:
        current: this run's samples (all repeats pooled).
        baseline: the accepted baseline's samples.
        confidence: two-sided coverage, between 0 and 1.
        resamples: number of bootstrap draws.
        seed: seeds the generator; equal inputs give equal intervals.

    Returns:
        A ``ChangeInterval``; with one sample on either side the plain change
        and ``low_confidence=True``.
    """
    if not 0 < confidence < 1:
        raise ValueError(
            f"Expected confidence to be between 0 and 1. Received: confidence={confidence!r}"
        )
    if resamples < 1:
        raise ValueError(f"Expected resamples to be at least 1. Received: resamples={resamples!r}")

    def change_of(cur: float, base: float) -> float:
        return cur / base if relative else cur - base

    change = change_of(median(current), median(baseline))
    if len(current) < 2 or len(baseline) < 2:
        return ChangeInterval(change, change, change, confidence, 0, low_confidence=True)
    rng = random.Random(seed)
    cur = list(current)
    base = list(baseline)
    changes = sorted(
        change_of(
            statistics.median(rng.choices(cur, k=len(cur))),
            statistics.median(rng.choices(base, k=len(base))),
        )
        for _ in range(resamples)
    )
    tail = (1 - confidence) / 2
    return ChangeInterval(
        change=change,
        low=_percentile(changes, tail),
        high=_percentile(changes, 1 - tail),
        confidence=confidence,
        resamples=resamples,
        low_confidence=False,
    )


# --------------------------------------------------------------------------- windows and runs

ESTIMATORS = ("min", "q25", "median")


def quantile(samples: Sequence[float], q: float) -> float:
    """The ``q`` quantile by linear interpolation between closest ranks."""
    if not samples:
        raise ValueError("Expected at least one sample. Received: samples=[]")
    return _percentile(sorted(samples), q)


def run_estimate(
    step_seconds: Sequence[float],
    calibration_seconds: Sequence[float | None] | None,
    method: str = "median",
    *,
    per_window: bool = False,
) -> float:
    """One run's estimate from its windows' seconds per step.

    ``method`` is ``"min"``, ``"q25"`` or ``"median"`` of the windows. With
    calibration figures, the estimate is divided by the median kernel time
    (kernel units), or, with ``per_window``, each window by the kernel timed
    after it before the estimator is taken. Windows without a kernel figure
    are left out of a calibrated estimate.
    """
    if method not in ESTIMATORS:
        raise ValueError(f"Expected method to be one of {ESTIMATORS}. Received: method={method!r}")
    q = {"min": 0.0, "q25": 0.25, "median": 0.5}[method]
    if calibration_seconds is None:
        return quantile(step_seconds, q)
    pairs = [(s, c) for s, c in zip(step_seconds, calibration_seconds, strict=True) if c and c > 0]
    if not pairs:
        raise ValueError("Expected calibration figures for a calibrated estimate. Received: none")
    if per_window:
        return quantile([s / c for s, c in pairs], q)
    return quantile([s for s, _ in pairs], q) / median([c for _, c in pairs])


def pooled_log_sd(groups: Sequence[Sequence[float]]) -> tuple[float, int]:
    """Pooled standard deviation of ``log`` values within groups, and its degrees of freedom.

    Each group is a set of independent runs measured under the same
    conditions (one accept, one software fingerprint of the history); their
    levels may differ (a TensorFlow upgrade moves the level, not the noise),
    so each group is centred on its own mean. Groups of one run add nothing.
    Returns ``(nan, 0)`` without two runs in any group.
    """
    total = 0.0
    dof = 0
    for group in groups:
        logs = [math.log(x) for x in group if x > 0]
        if len(logs) < 2:
            continue
        mean = sum(logs) / len(logs)
        total += sum((x - mean) ** 2 for x in logs)
        dof += len(logs) - 1
    return (math.sqrt(total / dof), dof) if dof else (math.nan, 0)


def normal_quantile(p: float) -> float:
    """The standard normal quantile of ``p``."""
    return statistics.NormalDist().inv_cdf(p)


def t_quantile(p: float, dof: int) -> float:
    """Student's t quantile of ``p`` with ``dof`` degrees of freedom.

    Hill's (1970) expansion in ``1/dof`` around the normal quantile, exact
    enough for verdicts (within 1% of the tabled value at 3 degrees of
    freedom and better above); ``dof`` of 1 and 2 use the closed forms.
    """
    if dof < 1:
        raise ValueError(f"Expected dof to be at least 1. Received: dof={dof!r}")
    if dof == 1:
        return math.tan(math.pi * (p - 0.5))
    if dof == 2:
        a = 4 * p * (1 - p)
        return (2 * p - 1) * math.sqrt(2 / a)
    z = normal_quantile(p)
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    g4 = (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160
    n = float(dof)
    return z + g1 / n + g2 / n**2 + g3 / n**3 + g4 / n**4
