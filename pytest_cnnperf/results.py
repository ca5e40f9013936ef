"""What a training run measured, as dataclasses with units in their names.

A ``TrainResult`` per ``cnnperf.train`` run and an ``AccuracyCheck`` per
``cnnperf.check_accuracy`` call; a test's ``TestOutcome`` (see ``outcome``)
holds them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pytest_cnnperf.layerprofile import LayerProfile
    from pytest_cnnperf.telemetry import RunTelemetry


@dataclass(frozen=True)
class EpochResult:
    """One timed epoch."""

    index: int
    seconds: float
    steps: int
    images: int
    loss: float
    metrics: Mapping[str, float]
    warmup: bool

    @property
    def images_per_second(self) -> float:
        return self.images / self.seconds if self.seconds > 0 else math.inf

    @property
    def accuracy(self) -> float | None:
        return self.metrics.get("accuracy")


@dataclass(frozen=True)
class WindowResult:
    """One timed window of ``steps`` training steps, and the reference kernel timed after it.

    ``calibration_seconds`` is the time of the fixed NumPy reference kernel
    (see ``timing.ReferenceKernel``) run right after the window, outside it;
    None when no calibration ran.
    """

    index: int
    seconds: float
    steps: int
    images: int
    loss: float
    calibration_seconds: float | None

    @property
    def step_seconds(self) -> float:
        return self.seconds / self.steps if self.steps else math.inf


@dataclass(frozen=True)
class TrainResult:
    """Everything ``cnnperf.train`` measured for one run."""

    model: str
    dataset: str
    data_source: str
    params: int
    batch_size: int
    epochs: tuple[EpochResult, ...]
    accuracy: float | None
    test_images: int
    device: str
    preprocessing: tuple[str, ...] = ()
    fallback_reason: str | None = None
    windows: tuple[WindowResult, ...] = ()
    arrangement: Mapping[str, object] | None = None
    """Where the run's timing came from: cores, threads, workers (see ``runtime``)."""
    #: The profiled window after the timed windows (None: per-layer timing off).
    layers: LayerProfile | None = None
    #: NVML's view of the GPUs during the measured windows (None on the CPU).
    telemetry: RunTelemetry | None = None
    #: The precision in force, as TensorFlow reported it after training:
    #: ``float32`` (TF32 off), ``tf32``, ``mixed_float16`` or ``mixed_bfloat16``.
    precision: str | None = None
    #: TF32 matrix multiplies enabled while this run trained.
    tf32: bool | None = None
    #: XLA compilation of the train step, as Keras resolved it.
    jit_compile: bool | None = None
    #: ``"mirrored"`` or None (one device).
    strategy: str | None = None
    #: The devices the run trained on (one without a strategy).
    devices: tuple[str, ...] = ()

    @property
    def device_count(self) -> int:
        return len(self.devices) or 1

    @property
    def measured_epochs(self) -> tuple[EpochResult, ...]:
        return tuple(e for e in self.epochs if not e.warmup)

    @property
    def steps_trained(self) -> int:
        """Training steps of the run: its epochs', and its windows' when they were
        timed after the warm-up epochs rather than as the measured epochs."""
        windows_apart = not self.measured_epochs
        extra = sum(w.steps for w in self.windows) if windows_apart else 0
        return sum(e.steps for e in self.epochs) + extra

    @property
    def epoch_seconds_median(self) -> float | None:
        return median_or_none([e.seconds for e in self.measured_epochs])

    @property
    def images_per_second_median(self) -> float | None:
        if self.windows:
            return median_or_none([w.images / w.seconds for w in self.windows if w.seconds > 0])
        return median_or_none([e.images_per_second for e in self.measured_epochs])

    @property
    def step_seconds_median(self) -> float | None:
        """Median seconds per step of the timed windows (raw, uncalibrated)."""
        return median_or_none([w.step_seconds for w in self.windows if w.steps])

    @property
    def calibration_seconds_median(self) -> float | None:
        """Median time of the reference kernel between the windows."""
        return median_or_none(
            [w.calibration_seconds for w in self.windows if w.calibration_seconds]
        )


@dataclass(frozen=True)
class AccuracyCheck:
    """A threshold a test asked for, and whether it held."""

    threshold: float
    measured: float | None
    passed: bool


def median_or_none(samples: Sequence[float]) -> float | None:
    """The median, or None for no samples."""
    # statistics is imported here, not at plugin load: it pulls in decimal and fractions.
    import statistics

    return statistics.median(samples) if samples else None
