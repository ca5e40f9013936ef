"""How far a figure may move from its baseline before it counts.

Three metrics are judged, each by a small typed rule that knows which
direction is better:

* ``epoch_seconds``: relative, lower is better;
* ``images_per_second``: relative, higher is better;
* ``accuracy``: absolute (top-1 as a fraction), higher is better.

A relative tolerance ``t`` means "up to ``t`` slower": epoch time may grow to
``(1 + t)`` times the baseline and throughput may fall to ``1 / (1 + t)`` of
it. Because throughput is images divided by epoch time, the two timing rules
then agree on the same run; a band of ``1 - t`` for throughput would not. The
band is symmetric on a log scale, so "improved" needs the mirror move:
epoch time below ``1 / (1 + t)``, throughput above ``1 + t``.

Precedence, lowest first: built-in defaults < ini < command line < per-test
marker. A test knows its own noise (a 50 ms epoch is noisier than a 5 s one),
so its marker wins over a blanket setting made for the whole suite.
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Literal, TypeAlias

Better: TypeAlias = Literal["lower", "higher"]

# The names used in ini values, command-line specs, markers and JSON.
EPOCH_TIME = "epoch_time"
IMAGES_PER_SECOND = "images_per_second"
ACCURACY = "accuracy"
TOLERANCE_NAMES = (EPOCH_TIME, IMAGES_PER_SECOND, ACCURACY)

_RELATIVE_FORM = "a relative tolerance such as '20%' or '0.2' (a fraction below 1 without '%')"
_ACCURACY_FORM = (
    "an accuracy tolerance in absolute points such as '2pt' or '0.02' (a fraction below 1)"
)
_NUMBER = r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+"
_PERCENT = re.compile(rf"^\s*({_NUMBER})\s*%\s*$")
_POINTS = re.compile(rf"^\s*({_NUMBER})\s*(?:pt|pts|points?)\s*$", re.IGNORECASE)
_BARE = re.compile(rf"^\s*({_NUMBER})\s*$")


def format_number(value: float) -> str:
    """Four significant digits, but never scientific notation for large figures."""
    return f"{value:.0f}" if abs(value) >= 1000 else f"{value:.4g}"


@dataclass(frozen=True)
class Violation:
    """A figure beyond its tolerance in the bad direction, with every number.

    ``change`` is current/baseline for a relative rule and current - baseline
    for an absolute one; ``interval_low``/``interval_high`` bound it (equal to
    ``change`` for a single value, ``confidence`` None then).
    """

    tolerance: MetricTolerance
    baseline: float
    current: float
    change: float
    interval_low: float
    interval_high: float
    confidence: float | None

    def describe(self) -> str:
        """One sentence: metric, measured, baseline, change, tolerance."""
        rule = self.tolerance
        text = (
            f"{rule.metric}: measured {rule.format_value(self.current)}, "
            f"baseline {rule.format_value(self.baseline)}, "
            f"{rule.format_change(self.change)}"
        )
        if self.confidence is not None:
            text += (
                f" ({self.confidence:.0%} interval {rule.format_change_short(self.interval_low)}"
                f" to {rule.format_change_short(self.interval_high)})"
            )
        return f"{text}; tolerance: {rule.describe()}"


@dataclass(frozen=True)
class MetricTolerance:
    """The rule for one metric.

    Args:
        metric: ``"epoch_seconds"``, ``"images_per_second"`` or ``"accuracy"``.
        unit: printed after values (``"s"``, ``"images/s"``); accuracy is
            printed as a percentage.
        better: ``"lower"`` or ``"higher"``.
        relative: True to judge current/baseline, False to judge
            current - baseline.
        limit: the tolerance: ``t`` in "up to ``t`` worse" for a relative
            rule, the largest allowed difference for an absolute one.
    """

    metric: str
    unit: str
    better: Better
    relative: bool
    limit: float

    def change(self, baseline: float, current: float) -> float:
        """current/baseline for a relative rule, current - baseline otherwise."""
        return current / baseline if self.relative else current - baseline

    def worse_bound(self) -> float:
        """The change beyond which the figure is worse than tolerated."""
        if self.relative:
            factor = 1.0 + self.limit
            return factor if self.better == "lower" else 1.0 / factor
        return self.limit if self.better == "lower" else -self.limit

    def better_bound(self) -> float:
        """The change beyond which the figure is better than the band."""
        if self.relative:
            factor = 1.0 + self.limit
            return 1.0 / factor if self.better == "lower" else factor
        return -self.limit if self.better == "lower" else self.limit

    def is_worse(self, change: float) -> bool:
        """True if ``change`` lies beyond the tolerance in the bad direction."""
        bound = self.worse_bound()
        return change > bound if self.better == "lower" else change < bound

    def is_better(self, change: float) -> bool:
        """True if ``change`` lies beyond the tolerance in the good direction."""
        bound = self.better_bound()
        return change < bound if self.better == "lower" else change > bound

    def violation(
        self,
        baseline: float,
        current: float,
        *,
        interval: tuple[float, float] | None = None,
        confidence: float | None = None,
    ) -> Violation | None:
        """A ``Violation`` if the whole interval (or the single change) is worse, else None."""
        change = self.change(baseline, current)
        low, high = interval if interval is not None else (change, change)
        if not (self.is_worse(low) and self.is_worse(high)):
            return None
        return Violation(
            tolerance=self,
            baseline=baseline,
            current=current,
            change=change,
            interval_low=low,
            interval_high=high,
            confidence=confidence if interval is not None else None,
        )

    def format_value(self, value: float) -> str:
        """A figure with its unit, e.g. ``1.234 s`` or ``98.10%``."""
        if self.metric == "accuracy":
            return f"{value:.2%}"
        return f"{format_number(value)} {self.unit}"

    def format_change_short(self, change: float) -> str:
        """``1.5x`` for a ratio, ``-2.10 points`` for a difference."""
        if self.relative:
            return f"{change:.3g}x"
        return f"{change * 100:+.2f} points"

    def format_change(self, change: float) -> str:
        """``1.5x the baseline`` or ``-2.10 points from the baseline``."""
        if self.relative:
            return f"{change:.3g}x the baseline"
        return f"{change * 100:+.2f} points from the baseline"

    def describe(self) -> str:
        """The band in words, e.g. ``at most 1.25x the baseline (lower is better)``."""
        bound = self.worse_bound()
        side = "at most" if self.better == "lower" else "at least"
        if self.relative:
            return (
                f"{side} {bound:.3g}x the baseline, {self.limit:.0%} slower "
                f"({self.better} is better)"
            )
        direction = "below" if self.better == "higher" else "above"
        return (
            f"at most {self.limit * 100:.3g} points {direction} the baseline "
            f"({self.better} is better)"
        )


def _check_limit(name: str, value: float, *, absolute: bool) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"Expected {name} to be a finite number. Received: {name}={value!r}")
    if value <= 0:
        raise ValueError(
            f"Expected {name} to be above 0: timing and accuracy are never exactly "
            f"repeatable, so a zero tolerance can only report noise. Received: {name}={value!r}"
        )
    if absolute and value >= 1:
        raise ValueError(
            f"Expected {name} to be below 1 (it is a difference in top-1 accuracy as a "
            f"fraction: 0.02 is 2 points). Received: {name}={value!r}"
        )


@dataclass(frozen=True)
class Tolerances:
    """The tolerances for one test.

    Args:
        epoch_time_rel: how much slower the median epoch may be, as a
            fraction (0.25: up to 1.25x the baseline time).
        images_per_second_rel: the same for throughput (0.25: down to
            1/1.25 = 0.8x the baseline throughput).
        accuracy_abs: how far top-1 accuracy may drop, as a fraction
            (0.02: two percentage points).

    The defaults suit a shared, noisy machine: projects that hunted small
    regressions on noisy hardware with tight thresholds drowned in false
    alarms. ``benchmarks/verdict_rates.py`` measures what they cost here.
    """

    epoch_time_rel: float = 0.25
    images_per_second_rel: float = 0.25
    accuracy_abs: float = 0.02

    def __post_init__(self) -> None:
        _check_limit("epoch_time_rel", self.epoch_time_rel, absolute=False)
        _check_limit("images_per_second_rel", self.images_per_second_rel, absolute=False)
        _check_limit("accuracy_abs", self.accuracy_abs, absolute=True)

    def epoch_seconds_rule(self) -> MetricTolerance:
        """Epoch wall time, relative, lower is better."""
        return MetricTolerance("epoch_seconds", "s", "lower", True, self.epoch_time_rel)

    def images_per_second_rule(self) -> MetricTolerance:
        """Training throughput, relative, higher is better."""
        return MetricTolerance(
            "images_per_second", "images/s", "higher", True, self.images_per_second_rel
        )

    def accuracy_rule(self) -> MetricTolerance:
        """Held-out top-1 accuracy, absolute, higher is better."""
        return MetricTolerance("accuracy", "top-1", "higher", False, self.accuracy_abs)

    def to_dict(self) -> dict[str, float]:
        """The JSON form, keyed by the user-facing names."""
        return {
            EPOCH_TIME: self.epoch_time_rel,
            IMAGES_PER_SECOND: self.images_per_second_rel,
            ACCURACY: self.accuracy_abs,
        }

    def merged(self, *layers: ToleranceOverrides | None) -> Tolerances:
        """These tolerances with each layer's set values applied, later layers winning."""
        result = self
        for layer in layers:
            if layer is None:
                continue
            changes = {f.name: getattr(layer, f.name) for f in fields(layer)}
            result = replace(result, **{k: v for k, v in changes.items() if v is not None})
        return result


@dataclass(frozen=True)
class ToleranceOverrides:
    """Tolerances set by one layer (ini, command line, marker); None = not set."""

    epoch_time_rel: float | None = None
    images_per_second_rel: float | None = None
    accuracy_abs: float | None = None

    @classmethod
    def from_mapping(cls, values: Mapping[str, object], *, source: str) -> ToleranceOverrides:
        """Read ``{"epoch_time": "30%", "accuracy": "2pt"}`` (strings or numbers).

        Args:
            values: tolerance name to value, e.g. a marker's keyword arguments.
            source: where the values come from, for messages
                (``"the cnnperf marker of tests/test_x.py::test_a"``).

        Raises:
            ValueError: on an unknown name or a malformed value.
        """
        parsed: dict[str, float] = {}
        for name, value in values.items():
            if name not in TOLERANCE_NAMES:
                raise ValueError(
                    f"Expected tolerance names in {source} to be among "
                    f"{', '.join(TOLERANCE_NAMES)}. Received: {name}={value!r}"
                )
            if isinstance(value, bool) or not isinstance(value, (str, int, float)):
                raise ValueError(
                    f"Expected {name} in {source} to be a number or a string such as "
                    f"'20%' or '2pt'. Received: {name}={value!r}"
                )
            try:
                parsed[name] = _parse_one(name, str(value))
            except argparse.ArgumentTypeError as error:
                raise ValueError(f"In {source}: {error}") from None
        return cls(
            epoch_time_rel=parsed.get(EPOCH_TIME),
            images_per_second_rel=parsed.get(IMAGES_PER_SECOND),
            accuracy_abs=parsed.get(ACCURACY),
        )


def _number(match: re.Match[str]) -> float:
    return float(match.group(1))


def parse_relative_tolerance(text: str) -> float:
    """Parse ``"20%"`` or ``"0.2"`` into 0.2.

    Raises:
        argparse.ArgumentTypeError: naming the expected form.
    """
    percent = _PERCENT.match(text)
    bare = _BARE.match(text)
    value = _number(percent) / 100 if percent else _number(bare) if bare else None
    if value is None or value <= 0 or (bare is not None and value >= 1):
        raise argparse.ArgumentTypeError(f"Expected {_RELATIVE_FORM}. Received: {text!r}")
    return value


def parse_accuracy_tolerance(text: str) -> float:
    """Parse ``"2pt"`` or ``"0.02"`` into 0.02 (absolute top-1 points).

    ``"2%"`` is refused: it could mean two points or 2% of the baseline.

    Raises:
        argparse.ArgumentTypeError: naming the expected form.
    """
    if _PERCENT.match(text):
        raise argparse.ArgumentTypeError(
            f"Expected {_ACCURACY_FORM}; '%' is ambiguous for accuracy (points or a share of "
            f"the baseline?), so write 'pt' for percentage points. Received: {text!r}"
        )
    points = _POINTS.match(text)
    bare = _BARE.match(text)
    value = _number(points) / 100 if points else _number(bare) if bare else None
    if value is None or not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"Expected {_ACCURACY_FORM}. Received: {text!r}")
    return value


def _parse_one(name: str, text: str) -> float:
    if name == ACCURACY:
        return parse_accuracy_tolerance(text)
    return parse_relative_tolerance(text)


def parse_tolerances(text: str) -> ToleranceOverrides:
    """Parse a command-line or ini spec into overrides.

    ``"20%"`` sets both timing tolerances; ``"epoch_time=20%,accuracy=2pt"``
    sets the named ones (names: ``epoch_time``, ``images_per_second``,
    ``accuracy``).

    Raises:
        argparse.ArgumentTypeError: naming the expected form.
    """
    form_error = argparse.ArgumentTypeError(
        "Expected a tolerance such as '20%' or a list such as "
        f"'epoch_time=20%,images_per_second=20%,accuracy=2pt'. Received: {text!r}"
    )
    if "=" not in text:
        try:
            value = parse_relative_tolerance(text)
        except argparse.ArgumentTypeError:
            raise form_error from None
        return ToleranceOverrides(epoch_time_rel=value, images_per_second_rel=value)
    parsed: dict[str, float] = {}
    for item in text.split(","):
        name, sep, value_text = (part.strip() for part in item.partition("="))
        if not sep or name not in TOLERANCE_NAMES:
            raise form_error
        parsed[name] = _parse_one(name, value_text)
    return ToleranceOverrides(
        epoch_time_rel=parsed.get(EPOCH_TIME),
        images_per_second_rel=parsed.get(IMAGES_PER_SECOND),
        accuracy_abs=parsed.get(ACCURACY),
    )


def resolve_tolerances(
    *layers: ToleranceOverrides | None, defaults: Tolerances | None = None
) -> Tolerances:
    """Layer overrides on the defaults, lowest precedence first.

    The plugin calls ``resolve_tolerances(ini, cli, marker)``: a per-test
    marker beats the command line, which beats the ini file, which beats the
    built-in defaults.
    """
    return (defaults or Tolerances()).merged(*layers)
