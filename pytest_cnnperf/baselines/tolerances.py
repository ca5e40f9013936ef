"""How far a figure may move from its baseline before it counts.

Every metric of the registry (see ``pytest_cnnperf.metrics``) has a
tolerance ``t``. For a relative metric ``t`` means "up to ``t`` worse": an
epoch time may grow to ``(1 + t)`` times the baseline. The band is symmetric
on a log scale, so "improved" needs the mirror move, below ``1 / (1 + t)``.
For an absolute metric (accuracy) ``t`` is the largest allowed difference.

Precedence, lowest first: the metric's default < ini < command line <
per-test marker. A test knows its own noise (a 50 ms epoch is noisier than a
5 s one), so its marker wins over a blanket setting made for the whole suite.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass, field

from pytest_cnnperf.metrics import Metric, MetricRegistry

#: The prefix of a per-test tolerance setting: ``tolerance_epoch_seconds``.
SETTING_PREFIX = "tolerance_"


@dataclass(frozen=True)
class MetricTolerance:
    """The rule for one metric: the metric and its tolerance ``limit``."""

    metric: Metric
    limit: float

    def change(self, baseline: float, current: float) -> float:
        """current/baseline for a relative metric, current - baseline otherwise."""
        return current / baseline if self.metric.relative else current - baseline

    def worse_bound(self) -> float:
        """The change beyond which the figure is worse than tolerated."""
        lower_is_better = self.metric.better == "lower"
        if self.metric.relative:
            factor = 1.0 + self.limit
            return factor if lower_is_better else 1.0 / factor
        return self.limit if lower_is_better else -self.limit

    def better_bound(self) -> float:
        """The change beyond which the figure is better than the band."""
        lower_is_better = self.metric.better == "lower"
        if self.metric.relative:
            factor = 1.0 + self.limit
            return 1.0 / factor if lower_is_better else factor
        return -self.limit if lower_is_better else self.limit

    def is_worse(self, change: float) -> bool:
        """True if ``change`` lies beyond the tolerance in the bad direction."""
        bound = self.worse_bound()
        return change > bound if self.metric.better == "lower" else change < bound

    def is_better(self, change: float) -> bool:
        """True if ``change`` lies beyond the tolerance in the good direction."""
        bound = self.better_bound()
        return change < bound if self.metric.better == "lower" else change > bound

    def describe(self) -> str:
        """The band in words, e.g. ``at most 1.25x the baseline, 25% slower (lower is better)``."""
        metric = self.metric
        if metric.relative:
            side = "at most" if metric.better == "lower" else "at least"
            return (
                f"{side} {self.worse_bound():.4g}x the baseline, {self.limit * 100:.3g}% "
                f"{'slower' if metric.unit == 's' else 'worse'} ({metric.better} is better)"
            )
        direction = "below" if metric.better == "higher" else "above"
        amount = (
            f"{self.limit * 100:.3g} points" if metric.fraction else metric.format_value(self.limit)
        )
        return f"at most {amount} {direction} the baseline ({metric.better} is better)"


@dataclass(frozen=True)
class ToleranceOverrides:
    """Tolerances set by one layer (ini, command line, marker), by metric name."""

    limits: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Tolerances:
    """The tolerance of every metric for one test, by metric name."""

    limits: Mapping[str, float]

    @classmethod
    def defaults(cls, registry: MetricRegistry) -> Tolerances:
        """Each judged metric's declared default (a figure only recorded has none)."""
        return cls({metric.name: metric.default_tolerance for metric in registry if metric.judged})

    def rule(self, metric: Metric) -> MetricTolerance:
        """The rule for ``metric`` (its default if this set does not name it)."""
        return MetricTolerance(metric, self.limits.get(metric.name, metric.default_tolerance))

    def merged(self, *layers: ToleranceOverrides | None) -> Tolerances:
        """These tolerances with each layer applied, later layers winning."""
        limits = dict(self.limits)
        for layer in layers:
            if layer is not None:
                limits.update(layer.limits)
        return Tolerances(limits)

    def to_dict(self) -> dict[str, float]:
        """The JSON form, keyed by metric name."""
        return dict(self.limits)

    @classmethod
    def from_dict(cls, data: Mapping[str, float]) -> Tolerances:
        return cls({str(name): float(value) for name, value in data.items()})


def _judged_names(registry: MetricRegistry) -> list[str]:
    return [metric.name for metric in registry if metric.judged]


def _metric_named(registry: MetricRegistry, name: str) -> Metric:
    metric = registry.get(name)
    if metric is not None and not metric.judged:
        raise argparse.ArgumentTypeError(
            f"expected metric names among {', '.join(_judged_names(registry))}, got "
            f"{name!r}, which is recorded but never judged (GPU telemetry), so it takes "
            "no tolerance"
        )
    if metric is None:
        import difflib

        # An old alias that is close suggests its metric's current name.
        close = difflib.get_close_matches(name, registry.accepted_names(), n=1)
        found = registry.get(close[0]) if close else None
        hint = f" (did you mean {found.name!r}?)" if found else ""
        raise argparse.ArgumentTypeError(
            f"expected metric names among {', '.join(_judged_names(registry))}, got {name!r}{hint}"
        )
    return metric


def parse_tolerances(text: str, registry: MetricRegistry) -> ToleranceOverrides:
    """Parse a command-line or ini spec into overrides.

    ``"20%"`` sets every relative metric (the timing tolerances);
    ``"epoch_seconds=20%,accuracy=2pt"`` sets the named ones.

    Raises:
        argparse.ArgumentTypeError: naming the expected form.
    """
    judged = [m for m in registry if m.judged]
    example = ",".join(
        f"{m.name}={'20%' if m.relative else '2pt' if m.fraction else '0.5'}" for m in judged
    )
    form = f"expected a tolerance such as '20%' or a list such as '{example}', got {text!r}"
    if "=" not in text:
        try:
            value = [m.parse_tolerance(text) for m in judged if m.relative][:1]
        except argparse.ArgumentTypeError:
            raise argparse.ArgumentTypeError(form) from None
        if not value:
            raise argparse.ArgumentTypeError(form)
        return ToleranceOverrides({m.name: value[0] for m in judged if m.relative})
    limits: dict[str, float] = {}
    for item in text.split(","):
        name, sep, value_text = (part.strip() for part in item.partition("="))
        if not sep or not name:
            raise argparse.ArgumentTypeError(form)
        metric = _metric_named(registry, name)
        if metric.name in limits:
            raise argparse.ArgumentTypeError(
                f"expected each metric once, got {metric.name!r} twice in {text!r}"
            )
        try:
            limits[metric.name] = metric.parse_tolerance(value_text)
        except argparse.ArgumentTypeError as error:
            raise argparse.ArgumentTypeError(f"{name}: {error}") from None
    return ToleranceOverrides(limits)


def known_settings(registry: MetricRegistry) -> dict[str, str]:
    """The per-test tolerance settings (``tolerance_<name>``), with what each means."""
    settings = {}
    for metric in registry:
        if not metric.judged:
            continue  # recorded, never judged: no tolerance to set
        for name in (metric.name, *metric.aliases):
            alias = f" (old name of tolerance_{metric.name})" if name != metric.name else ""
            settings[SETTING_PREFIX + name] = (
                f"tolerance of {metric.name}: {metric.tolerance_form()}{alias}"
            )
    return settings


def _positional(value: float) -> str:
    """``5e-05`` -> ``'0.00005'``: the tolerance parsers read no exponents."""
    import decimal

    return format(decimal.Decimal(repr(value)), "f")


def overrides_from_settings(
    settings: Mapping[str, object], registry: MetricRegistry, *, source: str
) -> ToleranceOverrides:
    """The ``tolerance_<name>`` settings of a test (strings or numbers) as overrides.

    Other settings are ignored; ``None`` values are unset.

    Raises:
        ValueError: a malformed value, naming ``source``.
    """
    limits: dict[str, float] = {}
    set_by: dict[str, str] = {}
    for key, value in settings.items():
        if not key.startswith(SETTING_PREFIX) or value is None:
            continue
        metric = registry.get(key.removeprefix(SETTING_PREFIX))
        if metric is None:
            continue  # unknown keys are reported by the settings check
        if metric.name in set_by:
            raise ValueError(
                f"In {source}: Expected one tolerance setting per metric. Received: "
                f"{set_by[metric.name]} and {key}, both for {metric.name}"
            )
        set_by[metric.name] = key
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ValueError(
                f"In {source}: Expected {key} to be a number or a string such as "
                f"'20%' or '2pt'. Received: {key}={value!r}"
            )
        try:
            text = value if isinstance(value, str) else _positional(value)
            limits[metric.name] = metric.parse_tolerance(text)
        except argparse.ArgumentTypeError as error:
            raise ValueError(f"In {source}: {key}: {error}") from None
    return ToleranceOverrides(limits)


def resolve_tolerances(registry: MetricRegistry, *layers: ToleranceOverrides | None) -> Tolerances:
    """Layer overrides on the metrics' defaults, lowest precedence first.

    The plugin calls ``resolve_tolerances(registry, ini, cli, marker)``: a
    per-test marker beats the command line, which beats the ini file, which
    beats the defaults.
    """
    return Tolerances.defaults(registry).merged(*layers)
