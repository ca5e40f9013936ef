"""What a training run measured, as dataclasses with units in their names.

``TestRecord`` is what travels on the test report (through xdist as plain
data, see ``to_dict``/``from_dict``) and what the summary and the results
JSON are made from.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any


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

    @property
    def measured_epochs(self) -> tuple[EpochResult, ...]:
        return tuple(e for e in self.epochs if not e.warmup)

    @property
    def epoch_seconds_median(self) -> float | None:
        return _median([e.seconds for e in self.measured_epochs])

    @property
    def images_per_second_median(self) -> float | None:
        return _median([e.images_per_second for e in self.measured_epochs])


@dataclass(frozen=True)
class AccuracyCheck:
    """A threshold a test asked for, and whether it held."""

    threshold: float
    measured: float | None
    passed: bool


@dataclass(frozen=True)
class TestRecord:
    """One test's results as reported: its runs, checks and verdict."""

    __test__ = False  # not a pytest test class, despite the name

    node_id: str
    runs: tuple[TrainResult, ...] = ()
    accuracy_checks: tuple[AccuracyCheck, ...] = ()
    verdict: str = "pass"
    model: str = ""
    dataset: str = ""
    comparison: Mapping[str, Any] = field(default_factory=dict)

    @property
    def epoch_seconds(self) -> tuple[float, ...]:
        """Measured epoch times of every run, pooled."""
        return tuple(e.seconds for run in self.runs for e in run.measured_epochs)

    @property
    def images_per_second(self) -> tuple[float, ...]:
        return tuple(e.images_per_second for run in self.runs for e in run.measured_epochs)

    @property
    def epoch_seconds_median(self) -> float | None:
        return _median(self.epoch_seconds)

    @property
    def images_per_second_median(self) -> float | None:
        return _median(self.images_per_second)

    @property
    def accuracy(self) -> float | None:
        """Held-out accuracy of the last run."""
        for run in reversed(self.runs):
            if run.accuracy is not None:
                return run.accuracy
        return None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TestRecord:
        runs = tuple(
            TrainResult(
                **{
                    **run,
                    "epochs": tuple(EpochResult(**e) for e in run["epochs"]),
                    "preprocessing": tuple(run.get("preprocessing", ())),
                }
            )
            for run in data.get("runs", ())
        )
        checks = tuple(AccuracyCheck(**c) for c in data.get("accuracy_checks", ()))
        return cls(
            node_id=data["node_id"],
            runs=runs,
            accuracy_checks=checks,
            verdict=data.get("verdict", "pass"),
            model=data.get("model", ""),
            dataset=data.get("dataset", ""),
            comparison=dict(data.get("comparison", {})),
        )


def _median(samples: Sequence[float]) -> float | None:
    # statistics is imported here, not at plugin load: it pulls in decimal and fractions.
    import statistics

    return statistics.median(samples) if samples else None


def sort_records(records: Sequence[TestRecord]) -> list[TestRecord]:
    """Summary order: by node id, so xdist runs print the same as serial ones."""
    return sorted(records, key=lambda r: r.node_id)
