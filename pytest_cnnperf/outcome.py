"""One test's outcome: the typed object every output is made from.

The runner fills a ``TestOutcome`` while the test runs (its training runs and
accuracy checks), the session adds the tolerances in force, the
``Comparison`` and the ``Verdict`` after the test body, and the report hook
adds a failure's reason. The same object then reaches the terminal summary,
the results JSON and the baseline store. It becomes plain data in one place,
``to_dict``/``from_dict``, used at the xdist boundary and in the results
JSON; the baseline store takes its ``figures``.

Imported when a test that uses cnnperf is set up, never at plugin load.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pytest_cnnperf.baselines.compare import Comparison
from pytest_cnnperf.baselines.model import Figures, Verdict
from pytest_cnnperf.baselines.tolerances import Tolerances
from pytest_cnnperf.layerprofile import LayerProfile
from pytest_cnnperf.metrics import MetricRegistry
from pytest_cnnperf.results import (
    AccuracyCheck,
    EpochResult,
    TrainResult,
    WindowResult,
    median_or_none,
)
from pytest_cnnperf.telemetry import RunTelemetry


@dataclass(frozen=True)
class TestOutcome:
    """Everything one test produced, from the runner to every output.

    Args:
        node_id: the pytest node id.
        model: the model's name (from ``@model``, else the first run's).
        dataset: the data set's name (from ``@dataset``, else the first run's).
        runs: every ``cnnperf.train`` run, repeats included, in order.
        accuracy_checks: every ``cnnperf.check_accuracy`` call, in order.
        verdict: the outcome; None until the test is judged or reported.
        tolerances: the tolerances in force for this test (None when the
            test trained nothing).
        comparison: the comparison with the baseline, or None when none was
            made (comparison off, nothing trained, or the test failed first).
        message: the verdict's text when it is worth showing with a passing
            test (``improved``), or the text the test failed or warned with.
        failure: why the test failed (the first lines of its error), or None.
    """

    __test__ = False  # not a pytest test class, despite the name

    node_id: str
    model: str = ""
    dataset: str = ""
    runs: tuple[TrainResult, ...] = ()
    accuracy_checks: tuple[AccuracyCheck, ...] = ()
    verdict: Verdict | None = None
    tolerances: Tolerances | None = None
    comparison: Comparison | None = None
    message: str | None = None
    failure: str | None = None

    # -- building ----------------------------------------------------------------

    def with_run(self, run: TrainResult) -> TestOutcome:
        return dataclasses.replace(
            self,
            runs=(*self.runs, run),
            model=self.model or run.model,
            dataset=self.dataset or run.dataset,
        )

    def with_check(self, check: AccuracyCheck) -> TestOutcome:
        return dataclasses.replace(self, accuracy_checks=(*self.accuracy_checks, check))

    def replace(self, **changes: Any) -> TestOutcome:
        return dataclasses.replace(self, **changes)

    # -- figures -------------------------------------------------------------------

    def samples(self, registry: MetricRegistry) -> dict[str, tuple[float, ...]]:
        """Each registered metric's samples in this outcome (metrics without any left out).

        A metric measured per part contributes one entry per part, named
        ``<metric>/<part>`` (see ``metrics``).
        """
        found = {metric.name: tuple(float(x) for x in metric.read(self)) for metric in registry}
        for metric in registry:
            if metric.parts is not None:
                for part, values in metric.parts(self).items():
                    found[metric.part_metric(part).name] = tuple(float(x) for x in values)
        return {name: values for name, values in found.items() if values}

    def medians(self, registry: MetricRegistry) -> dict[str, float]:
        """Each registered metric's median, for the summary and the JSON."""
        return {
            name: value
            for name, values in self.samples(registry).items()
            if (value := median_or_none(values)) is not None
        }

    def figures(self, registry: MetricRegistry) -> Figures:
        """The baseline module's view: set-up of the last run and every metric's samples."""
        last = self.runs[-1]
        return Figures(
            node_id=self.node_id,
            model=self.model or last.model,
            dataset=self.dataset or last.dataset,
            batch_size=last.batch_size,
            data_source="synthetic" if last.data_source == "synthetic" else "real",
            samples=self.samples(registry),
            timing=self.timing(),
        )

    def timing(self) -> dict[str, Any] | None:
        """The raw timing of every run, as plain data for the baseline and the comparison.

        ``runs`` holds, per run, its windows as ``[seconds, steps, kernel
        seconds]``, its median seconds per step and median kernel seconds;
        ``arrangement`` the cores, threads and workers it ran with.
        """
        runs = [run for run in self.runs if run.windows]
        if not runs:
            return None
        from pytest_cnnperf.metrics import STEP_ESTIMATOR, STEP_PER_WINDOW

        estimator = (
            f"{STEP_ESTIMATOR} of window / its kernel"
            if STEP_PER_WINDOW
            else f"{STEP_ESTIMATOR} window / median kernel"
        )
        return {
            "method": "windows",
            "estimator": estimator,
            "arrangement": dict(runs[-1].arrangement or {}),
            "runs": [
                {
                    "windows": [[w.seconds, w.steps, w.calibration_seconds] for w in run.windows],
                    "step_seconds": run.step_seconds_median,
                    "calibration_seconds": run.calibration_seconds_median,
                }
                for run in runs
            ],
        }

    @property
    def images_per_second(self) -> tuple[float, ...]:
        """Throughput of every window (or measured epoch): derived, shown, not judged."""
        found: list[float] = []
        for run in self.runs:
            if run.windows:
                found.extend(w.images / w.seconds for w in run.windows if w.seconds > 0)
            else:
                found.extend(e.images_per_second for e in run.measured_epochs)
        return tuple(found)

    @property
    def images_per_second_median(self) -> float | None:
        return median_or_none(self.images_per_second)

    @property
    def accuracy(self) -> float | None:
        """Held-out accuracy of the last run that measured one."""
        for run in reversed(self.runs):
            if run.accuracy is not None:
                return run.accuracy
        return None

    @property
    def synthetic(self) -> bool:
        return any(run.data_source == "synthetic" for run in self.runs)

    # -- plain data (xdist report, results JSON) ------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "node_id": self.node_id,
            "model": self.model,
            "dataset": self.dataset,
            "runs": [_run_to_dict(run) for run in self.runs],
            "accuracy_checks": [dataclasses.asdict(c) for c in self.accuracy_checks],
            "verdict": None if self.verdict is None else self.verdict.value,
            "tolerances": None if self.tolerances is None else self.tolerances.to_dict(),
            "comparison": None if self.comparison is None else self.comparison.to_dict(),
            "message": self.message,
            "failure": self.failure,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], registry: MetricRegistry) -> TestOutcome:
        runs = tuple(
            TrainResult(
                **{
                    **run,
                    "epochs": tuple(EpochResult(**e) for e in run["epochs"]),
                    "preprocessing": tuple(run.get("preprocessing", ())),
                    "devices": tuple(run.get("devices", ())),
                    "windows": tuple(WindowResult(**w) for w in run.get("windows", ())),
                    "layers": None
                    if run.get("layers") is None
                    else LayerProfile.from_dict(run["layers"]),
                    "telemetry": None
                    if run.get("telemetry") is None
                    else RunTelemetry.from_dict(run["telemetry"]),
                }
            )
            for run in data.get("runs", ())
        )
        tolerances = data.get("tolerances")
        comparison = data.get("comparison")
        verdict = data.get("verdict")
        return cls(
            node_id=data["node_id"],
            model=data.get("model", ""),
            dataset=data.get("dataset", ""),
            runs=runs,
            accuracy_checks=tuple(AccuracyCheck(**c) for c in data.get("accuracy_checks", ())),
            verdict=None if verdict is None else Verdict(verdict),
            tolerances=None if tolerances is None else Tolerances.from_dict(tolerances),
            comparison=None if comparison is None else Comparison.from_dict(comparison, registry),
            message=data.get("message"),
            failure=data.get("failure"),
        )


def _run_to_dict(run: TrainResult) -> dict[str, Any]:
    """A run as plain data; its layer profile in its own form (with derived figures)."""
    data = {
        f.name: getattr(run, f.name)
        for f in dataclasses.fields(run)
        if f.name not in ("layers", "telemetry")
    }
    data["epochs"] = [dataclasses.asdict(e) for e in run.epochs]
    data["windows"] = [dataclasses.asdict(w) for w in run.windows]
    data["arrangement"] = None if run.arrangement is None else dict(run.arrangement)
    data["layers"] = None if run.layers is None else run.layers.to_dict()
    data["telemetry"] = None if run.telemetry is None else run.telemetry.to_dict()
    data["devices"] = list(run.devices)
    return data
