"""The metric registry: every judged figure is declared once, here.

A ``Metric`` says what a figure is called, its unit, which direction is
better, whether its tolerance is relative (a ratio to the baseline) or
absolute (a difference), its default tolerance, how its samples are read from
a test's outcome and how it is printed. Tolerance parsing (command line, ini,
markers), the baseline store, the comparison, the summary and the results
JSON all iterate over a ``MetricRegistry`` instead of knowing the metrics:
adding one is one ``Metric`` declaration, registered by a
``pytest_cnnperf_add_metrics`` hook implementation (see ``hookspec``).

Figures that follow from a judged one (images per second from epoch time) are
shown, never declared as a second metric: a verdict is given once per fact.

A metric can be measured per *part* (``layer_seconds``: one series of samples
per layer): its ``parts`` reader returns the samples of each part, stored as
``<name>/<part>`` wherever a metric's samples go (the baseline entry, the
JSON), and ``MetricRegistry.get("<name>/<part>")`` returns the part's own
``Metric``, so that the store reads them back without knowing the layers.
Such a metric ``explains`` another: it is compared only when that one
regressed, to say where, and never changes the verdict itself.

Standard library only, and imported when a run first needs a metric, never
at plugin load.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, TypeAlias

if TYPE_CHECKING:
    from pytest_cnnperf.outcome import TestOutcome
    from pytest_cnnperf.results import TrainResult

Better: TypeAlias = Literal["lower", "higher"]
Reader: TypeAlias = "Callable[[TestOutcome], Sequence[float]]"
PartsReader: TypeAlias = "Callable[[TestOutcome], Mapping[str, Sequence[float]]]"

#: Between a metric's name and a part's name: Keras layer names hold no '/'.
PART_SEPARATOR = "/"

_NUMBER = r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+"
_PERCENT = re.compile(rf"^\s*({_NUMBER})\s*%\s*$")
_POINTS = re.compile(rf"^\s*({_NUMBER})\s*(?:pt|pts|points?)\s*$", re.IGNORECASE)
_BARE = re.compile(rf"^\s*({_NUMBER})\s*$")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")

RELATIVE_FORM = "a relative tolerance such as '20%' or '0.2' (a fraction below 1 without '%')"
POINTS_FORM = "a tolerance in absolute points such as '2pt' or '0.02' (a fraction below 1)"


def format_number(value: float) -> str:
    """Four significant digits, but never scientific notation for large figures."""
    return f"{value:.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def format_seconds(value: float) -> str:
    """``52.1 ms`` below a second, ``1.23 s`` above: for table cells."""
    return f"{value * 1000:.1f} ms" if value < 1 else f"{value:.2f} s"


def parse_relative(text: str) -> float:
    """``"20%"`` or ``"0.2"`` -> 0.2.

    Raises:
        argparse.ArgumentTypeError: naming the expected form.
    """
    percent = _PERCENT.match(text)
    bare = _BARE.match(text)
    value = float(percent.group(1)) / 100 if percent else float(bare.group(1)) if bare else None
    if value is None or value <= 0 or (bare is not None and value >= 1):
        raise argparse.ArgumentTypeError(f"expected {RELATIVE_FORM}, got {text!r}")
    return value


def parse_points(text: str) -> float:
    """``"2pt"`` or ``"0.02"`` -> 0.02, for a figure that is a fraction (accuracy).

    ``"2%"`` is refused: it could mean two points or 2% of the baseline.

    Raises:
        argparse.ArgumentTypeError: naming the expected form.
    """
    if _PERCENT.match(text):
        raise argparse.ArgumentTypeError(
            f"expected {POINTS_FORM}; '%' is ambiguous here (points or a share of the "
            f"baseline?), so write 'pt' for percentage points, got {text!r}"
        )
    points = _POINTS.match(text)
    bare = _BARE.match(text)
    value = float(points.group(1)) / 100 if points else float(bare.group(1)) if bare else None
    if value is None or not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"expected {POINTS_FORM}, got {text!r}")
    return value


def _parse_absolute(unit: str) -> Callable[[str], float]:
    def parse(text: str) -> float:
        bare = _BARE.match(text)
        if bare is None or float(bare.group(1)) <= 0:
            raise argparse.ArgumentTypeError(
                f"expected an absolute tolerance in {unit or 'the unit of the figure'}, "
                f"a number above 0 such as '0.5', got {text!r}"
            )
        return float(bare.group(1))

    return parse


@dataclass(frozen=True)
class Metric:
    """One judged figure.

    Args:
        name: the one name used in markers (``tolerance_<name>``), tolerance
            specs, the baseline file, the JSON and messages, e.g.
            ``"epoch_seconds"``; lower-case letters, digits and underscores.
        unit: printed after values in messages (``"s"``); ignored for a
            ``fraction`` metric, which prints as a percentage.
        better: ``"lower"`` or ``"higher"``.
        relative: True to judge current/baseline against ``1 + t``; False to
            judge current - baseline against ``t``.
        default_tolerance: ``t`` when no layer sets one.
        read: the samples of this metric in one test's outcome (empty when it
            has none), e.g. every measured epoch's seconds.
        description: one line for ``--help`` texts and docs.
        noisy: True for timing-like figures: judged on a bootstrap interval,
            and a single sample on a side is never a confident change. False
            for figures judged on their value (held-out accuracy).
        fraction: the figure is a fraction in 0..1, printed as a percentage,
            with absolute tolerances in points.
        aliases: older names still accepted in tolerance specs and markers.
        cell: formats a value for a table cell (default: as in messages).
        column: the summary table's column header, or None to leave the
            metric out of the summary table (it is in the JSON either way).
        per_run: the samples are one estimate per independent run (a noisy
            metric): judged by the three-way rule on the between-session noise
            (``baselines.compare.judge_runs``), not by a bootstrap of samples
            taken within one run.
        gpu_tolerance: the default tolerance in the GPU profile, where the
            noise is lower, or None for ``default_tolerance`` there too.
        parts: for a metric measured per part (per layer), the samples of
            each part; ``read`` then returns none of its own.
        explains: the metric whose regression this one explains: compared
            only when that one regressed, never changing the verdict.
        part: set on the ``Metric`` of one part (see ``part_metric``).
        judged: False for a figure that is recorded (JSON, summary, baseline
            file) but never compared: GPU telemetry describes the conditions
            of a measurement, it is no verdict on the code.
    """

    name: str
    unit: str
    better: Better
    relative: bool
    default_tolerance: float
    read: Reader
    description: str
    noisy: bool = True
    fraction: bool = False
    aliases: tuple[str, ...] = ()
    cell: Callable[[float], str] | None = field(default=None, compare=False)
    column: str | None = None
    per_run: bool = False
    gpu_tolerance: float | None = None
    parts: PartsReader | None = field(default=None, compare=False)
    explains: str | None = None
    part: str | None = None
    judged: bool = True

    def __post_init__(self) -> None:
        declared = self.name.split(PART_SEPARATOR, 1)[0] if self.part is not None else self.name
        for name in (declared, *self.aliases):
            if not _NAME.match(name):
                raise ValueError(
                    "Expected a metric name of lower-case letters, digits and underscores. "
                    f"Received: name={name!r}"
                )
        if self.better not in ("lower", "higher"):
            raise ValueError(
                f"Expected better to be 'lower' or 'higher'. Received: better={self.better!r}"
            )
        self.check_tolerance(self.default_tolerance, where=f"the default_tolerance of {self.name}")

    # -- parts -----------------------------------------------------------------

    @property
    def family(self) -> str:
        """The declared name: ``layer_seconds`` for ``layer_seconds/conv1``."""
        return self.name.split(PART_SEPARATOR, 1)[0]

    def part_metric(self, part: str) -> Metric:
        """The metric of one part, named ``<name>/<part>``, judged like this one."""
        if self.parts is None:
            raise ValueError(f"Expected a metric measured per part. Received: name={self.name!r}")
        return dataclasses.replace(
            self,
            name=f"{self.name}{PART_SEPARATOR}{part}",
            aliases=(),
            parts=None,
            part=part,
            column=None,
        )

    # -- tolerances ------------------------------------------------------------

    def parse_tolerance(self, text: str) -> float:
        """Parse a tolerance for this metric from text (``'20%'``, ``'2pt'``, ``'0.5'``).

        Raises:
            argparse.ArgumentTypeError: naming the expected form.
        """
        if self.relative:
            return parse_relative(text)
        if self.fraction:
            return parse_points(text)
        return _parse_absolute(self.unit)(text)

    def tolerance_form(self) -> str:
        """How a tolerance for this metric is written, for messages."""
        if self.relative:
            return RELATIVE_FORM
        if self.fraction:
            return POINTS_FORM
        return f"a number above 0 in {self.unit}" if self.unit else "a number above 0"

    def check_tolerance(self, value: object, *, where: str) -> float:
        """Return ``value`` as a valid tolerance, or raise ValueError naming ``where``."""
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"Expected {where} to be a number. Received: {value!r}")
        if not math.isfinite(value) or value <= 0:
            raise ValueError(
                f"Expected {where} to be a finite number above 0: figures are never exactly "
                f"repeatable, so a zero tolerance can only report noise. Received: {value!r}"
            )
        if self.fraction and not self.relative and value >= 1:
            raise ValueError(
                f"Expected {where} to be below 1: it is a difference of fractions, 0.02 "
                f"is 2 points. Received: {value!r}"
            )
        return float(value)

    # -- samples -----------------------------------------------------------------

    def check_sample(self, value: object) -> bool:
        """True if ``value`` can be a sample of this metric."""
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if not math.isfinite(value):
            return False
        if self.fraction:
            return 0.0 <= value <= 1.0
        return value > 0 if self.relative else True

    def sample_form(self) -> str:
        """What a valid sample is, for messages."""
        if self.fraction:
            return "a number from 0 to 1"
        return "a finite number above 0" if self.relative else "a finite number"

    # -- printing ---------------------------------------------------------------

    def format_value(self, value: float) -> str:
        """A figure with its unit for messages, e.g. ``1.234 s`` or ``98.10%``."""
        if self.fraction:
            return f"{value:.2%}"
        return f"{format_number(value)} {self.unit}".rstrip()

    def format_cell(self, value: float | None) -> str:
        """A figure for a table cell; ``-`` for none."""
        if value is None:
            return "-"
        return self.cell(value) if self.cell is not None else self.format_value(value)

    def format_change_short(self, change: float) -> str:
        """``1.5x`` for a ratio, ``-2.10 points`` or ``+0.3 s`` for a difference."""
        if self.relative:
            return f"{change:.3g}x"
        if self.fraction:
            return f"{change * 100:+.2f} points"
        return f"{change:+.4g} {self.unit}".rstrip()

    def format_change(self, change: float) -> str:
        """``1.5x the baseline`` or ``-2.10 points from the baseline``."""
        suffix = " the baseline" if self.relative else " from the baseline"
        return self.format_change_short(change) + suffix


#: The estimator of a run's step time from its windows, chosen by measurement
#: (``benchmarks/verdict_rates.py``, docs/baselines.md): the median over the
#: windows of each window's seconds per step divided by the kernel time taken
#: right after it. Of nine candidates (minimum, 25% quantile, median; raw,
#: over the median kernel, per window) it had the smallest largest spread
#: over the two measured networks (log-SD 0.173 LeNet-5, 0.186 ResNet20).
STEP_ESTIMATOR = "median"
STEP_PER_WINDOW = True


def step_time_of(run: TrainResult) -> float | None:
    """One run's calibrated step time (kernel units), or None without calibrated windows."""
    from pytest_cnnperf.baselines.stats import run_estimate

    windows = [w for w in run.windows if w.calibration_seconds and w.steps]
    if not windows:
        return None
    return run_estimate(
        [w.step_seconds for w in windows],
        [w.calibration_seconds for w in windows],
        STEP_ESTIMATOR,
        per_window=STEP_PER_WINDOW,
    )


def raw_step_seconds_of(run: TrainResult) -> float | None:
    """One run's median window seconds per step, uncalibrated (shown, not judged)."""
    from pytest_cnnperf.baselines.stats import run_estimate

    steps = [w.step_seconds for w in run.windows if w.steps]
    return run_estimate(steps, None, STEP_ESTIMATOR) if steps else None


def _step_times(outcome: TestOutcome) -> tuple[float, ...]:
    return tuple(x for run in outcome.runs if (x := step_time_of(run)) is not None)


def _held_out_accuracy(outcome: TestOutcome) -> tuple[float, ...]:
    return tuple(run.accuracy for run in outcome.runs if run.accuracy is not None)


def _accuracy_cell(value: float) -> str:
    return f"{value:.4f}"


STEP_TIME = Metric(
    name="step_time",
    unit="kernel units",
    better="lower",
    relative=True,
    default_tolerance=0.10,
    read=_step_times,
    description=(
        "seconds per training step over the seconds of the reference kernel timed after "
        "each window, median of the windows; one estimate per run"
    ),
    aliases=("epoch_seconds", "epoch_time", "images_per_second"),
    cell=lambda value: f"{value:.4g}",
    column="step time (kernel units)",
    per_run=True,
    gpu_tolerance=0.05,
)
"""Calibrated training step time: the judged timing figure. Raw seconds per
step, epoch times, images per second and the kernel's seconds are shown and
stored, not judged. The old tolerance names (``epoch_seconds``,
``epoch_time``, ``images_per_second``) all meant "up to t slower" and still do."""

#: The old name of the judged timing metric, kept for imports.
EPOCH_SECONDS = STEP_TIME

ACCURACY = Metric(
    name="accuracy",
    unit="top-1",
    better="higher",
    relative=False,
    default_tolerance=0.02,
    read=_held_out_accuracy,
    description="held-out top-1 accuracy after training, one value per run",
    noisy=False,
    fraction=True,
    cell=_accuracy_cell,
    column="accuracy",
)


#: A layer's time per step is floored here for the comparison: a layer that ran
#: no op (0 s) still has a ratio to a slower run. A microsecond is below any
#: layer time that matters (and ``MATERIAL_SHARE`` in the comparison keeps
#: tiny layers from being named on noise).
LAYER_FLOOR_SECONDS = 1e-6


def _layer_seconds(outcome: TestOutcome) -> dict[str, tuple[float, ...]]:
    """Each layer's seconds per profiled step, repeats pooled, floored at a microsecond."""
    pooled: dict[str, list[float]] = {}
    for run in outcome.runs:
        if run.layers is not None and run.layers.profiled:
            for name, values in run.layers.layer_samples().items():
                pooled.setdefault(name, []).extend(max(v, LAYER_FLOOR_SECONDS) for v in values)
    return {name: tuple(values) for name, values in pooled.items()}


def _no_samples(outcome: TestOutcome) -> tuple[float, ...]:
    return ()


LAYER_SECONDS = Metric(
    name="layer_seconds",
    unit="s",
    better="lower",
    relative=True,
    default_tolerance=0.25,
    read=_no_samples,
    parts=_layer_seconds,
    explains="step_time",
    description="each layer's forward, backward and optimizer time per profiled step; "
    "compared to name the layers of a regressed step time",
    cell=format_seconds,
)
"""Per-layer time from the profiled window (docs/layers.md): one part per layer."""

GIB = 2**30


def _telemetry_reader(
    figure: str, combine: Callable[[list[float]], float], scale: float = 1.0
) -> Reader:
    """One sample per run: ``figure`` of its GPUs' telemetry, combined over the GPUs."""

    def read(outcome: TestOutcome) -> tuple[float, ...]:
        found = []
        for run in outcome.runs:
            if run.telemetry is not None:
                value = run.telemetry.figure(figure, combine)
                if value is not None:
                    found.append(value / scale)
        return tuple(found)

    return read


def _mean(values: list[float]) -> float:
    return math.fsum(values) / len(values)


GPU_UTILIZATION = Metric(
    name="gpu_utilization",
    unit="%",
    better="higher",
    relative=False,
    default_tolerance=10.0,
    read=_telemetry_reader("utilization_mean_percent", _mean),
    description="mean GPU utilization (NVML: share of time a kernel ran) during the timed "
    "windows, averaged over the run's GPUs; one value per run",
    noisy=False,
    cell=lambda value: f"{value:.0f}%",
    column="GPU util",
    judged=False,
)
GPU_MEMORY_PEAK = Metric(
    name="gpu_memory_peak",
    unit="GiB",
    better="lower",
    relative=True,
    default_tolerance=0.10,
    read=_telemetry_reader("memory_used_peak_bytes", max, GIB),
    description="peak GPU memory used (NVML, the whole device) during the timed windows, "
    "the largest of the run's GPUs; one value per run",
    noisy=False,
    cell=lambda value: f"{value:.2f} GiB",
    column="GPU mem",
    judged=False,
)
GPU_POWER = Metric(
    name="gpu_power",
    unit="W",
    better="lower",
    relative=True,
    default_tolerance=0.10,
    read=_telemetry_reader("power_mean_watts", math.fsum),
    description="mean GPU board power during the timed windows, summed over the run's GPUs",
    noisy=False,
    judged=False,
)
GPU_SM_CLOCK = Metric(
    name="gpu_sm_clock",
    unit="MHz",
    better="higher",
    relative=True,
    default_tolerance=0.05,
    read=_telemetry_reader("sm_clock_mean_mhz", min),
    description="mean SM clock during the timed windows, the lowest of the run's GPUs",
    noisy=False,
    judged=False,
)
GPU_TEMPERATURE_PEAK = Metric(
    name="gpu_temperature_peak",
    unit="C",
    better="lower",
    relative=False,
    default_tolerance=5.0,
    read=_telemetry_reader("temperature_peak_celsius", max),
    description="highest GPU temperature during the timed windows, over the run's GPUs",
    noisy=False,
    judged=False,
)
#: NVML telemetry (``telemetry``): recorded, shown, stored; never judged.
TELEMETRY_METRICS: tuple[Metric, ...] = (
    GPU_UTILIZATION,
    GPU_MEMORY_PEAK,
    GPU_POWER,
    GPU_SM_CLOCK,
    GPU_TEMPERATURE_PEAK,
)

BUILTIN_METRICS: tuple[Metric, ...] = (STEP_TIME, ACCURACY, LAYER_SECONDS, *TELEMETRY_METRICS)


class MetricRegistry:
    """The metrics of one session, in declaration order."""

    def __init__(self, metrics: Sequence[Metric] = BUILTIN_METRICS) -> None:
        self._metrics: dict[str, Metric] = {}
        self._names: dict[str, Metric] = {}
        for metric in metrics:
            self.register(metric)

    def register(self, metric: Metric) -> Metric:
        """Add ``metric``; a name or alias already taken is a ValueError."""
        for name in (metric.name, *metric.aliases):
            if name in self._names:
                raise ValueError(
                    f"Expected a metric name not declared yet. Received: name={name!r}, "
                    f"already declared by the metric {self._names[name].name!r}"
                )
        self._metrics[metric.name] = metric
        for name in (metric.name, *metric.aliases):
            self._names[name] = metric
        return metric

    def __iter__(self) -> Iterator[Metric]:
        return iter(self._metrics.values())

    def __len__(self) -> int:
        return len(self._metrics)

    def __contains__(self, name: object) -> bool:
        return name in self._metrics

    def get(self, name: str) -> Metric | None:
        """The metric called ``name`` or with that alias, or None.

        ``<name>/<part>`` is the metric of one part of a metric measured per
        part (``layer_seconds/conv1``).
        """
        found = self._names.get(name)
        if found is None and PART_SEPARATOR in name:
            family, part = name.split(PART_SEPARATOR, 1)
            declared = self._metrics.get(family)
            if declared is not None and declared.parts is not None and part:
                return declared.part_metric(part)
        return found

    def names(self) -> tuple[str, ...]:
        """Every metric's name, in declaration order (no aliases)."""
        return tuple(self._metrics)

    def accepted_names(self) -> tuple[str, ...]:
        """Names and aliases, as a tolerance spec or marker may write them."""
        return tuple(self._names)
