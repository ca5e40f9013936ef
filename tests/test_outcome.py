"""Unit tests for TestOutcome: figures read through the registry, and its plain-data form."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest
from legacy_metrics import LEGACY_METRICS, legacy_registry
from metric_helpers import custom_metric

from pytest_cnnperf.baselines import (
    BaselineEntry,
    Figures,
    Provenance,
    Tolerances,
    Verdict,
    compare,
)
from pytest_cnnperf.metrics import MetricRegistry
from pytest_cnnperf.outcome import TestOutcome
from pytest_cnnperf.results import AccuracyCheck, EpochResult, TrainResult

NODE = "tests/test_zoo.py::test_train[lenet5-mnist]"
REGISTRY = legacy_registry()
SOFTWARE = {"python": "3.11.7", "tensorflow": "2.20.0"}


def _steps(outcome: TestOutcome) -> Sequence[float]:
    return [float(e.steps) for run in outcome.runs for e in run.measured_epochs]


#: A metric a plugin might add, read from the same outcome.
STEPS = custom_metric(
    name="steps_per_epoch",
    unit="steps",
    read=_steps,
    description="training steps of each measured epoch",
)
CUSTOM = MetricRegistry([*LEGACY_METRICS, STEPS])


def _epoch(index: int, seconds: float, *, warmup: bool = False, images: int = 6000) -> EpochResult:
    return EpochResult(
        index=index,
        seconds=seconds,
        steps=47,
        images=images,
        loss=0.5 / (index + 1),
        metrics={"accuracy": 0.9 + index / 100, "loss": 0.5 / (index + 1)},
        warmup=warmup,
    )


def _run(
    seconds: Sequence[float],
    *,
    accuracy: float | None = 0.98,
    data_source: str = "real",
    batch_size: int = 128,
    model: str = "lenet5",
) -> TrainResult:
    epochs = (_epoch(0, 9.0, warmup=True), *(_epoch(i + 1, s) for i, s in enumerate(seconds)))
    return TrainResult(
        model=model,
        dataset="mnist",
        data_source=data_source,
        params=61706,
        batch_size=batch_size,
        epochs=epochs,
        accuracy=accuracy,
        test_images=10000,
        device="cpu",
        preprocessing=("normalize", "one_hot"),
        fallback_reason=None,
    )


def _outcome() -> TestOutcome:
    outcome = TestOutcome(NODE)
    outcome = outcome.with_run(_run((1.0, 1.2), accuracy=0.97))
    outcome = outcome.with_run(_run((1.5, 1.25), accuracy=0.98))
    return outcome.with_check(AccuracyCheck(threshold=0.95, measured=0.98, passed=True))


def test_building_an_outcome() -> None:
    outcome = _outcome()
    assert (outcome.model, outcome.dataset) == ("lenet5", "mnist")
    assert len(outcome.runs) == 2
    assert outcome.accuracy_checks == (AccuracyCheck(0.95, 0.98, True),)
    assert outcome.verdict is None and outcome.comparison is None
    # The first run names the model; a later run does not rename it.
    assert outcome.with_run(_run((1.0,), model="vgg11")).model == "lenet5"
    assert TestOutcome(NODE, model="resnet18").with_run(_run((1.0,))).model == "resnet18"
    assert outcome.replace(failure="boom").failure == "boom"
    assert outcome.failure is None


def test_samples_are_read_through_the_registry() -> None:
    outcome = _outcome()
    # Warm-up epochs are not measured; repeats are pooled in order.
    assert outcome.samples(REGISTRY) == {
        "epoch_seconds": (1.0, 1.2, 1.5, 1.25),
        "accuracy": (0.97, 0.98),
    }
    assert outcome.samples(CUSTOM)["steps_per_epoch"] == (47.0, 47.0, 47.0, 47.0)
    assert outcome.samples(MetricRegistry([])) == {}


def test_metrics_without_samples_are_left_out() -> None:
    outcome = TestOutcome(NODE).with_run(_run((1.0,), accuracy=None))
    assert outcome.samples(REGISTRY) == {"epoch_seconds": (1.0,)}
    assert outcome.medians(REGISTRY) == {"epoch_seconds": 1.0}
    assert TestOutcome(NODE).samples(REGISTRY) == {}
    assert TestOutcome(NODE).medians(REGISTRY) == {}


def test_medians() -> None:
    assert _outcome().medians(REGISTRY) == {
        "epoch_seconds": pytest.approx(1.225),
        "accuracy": pytest.approx(0.975),
    }


def test_figures_for_the_baseline_store() -> None:
    outcome = _outcome().with_run(_run((2.0,), batch_size=64, data_source="synthetic"))
    figures = outcome.figures(REGISTRY)
    assert figures == Figures(
        node_id=NODE,
        model="lenet5",
        dataset="mnist",
        batch_size=64,
        data_source="synthetic",
        samples={"epoch_seconds": (1.0, 1.2, 1.5, 1.25, 2.0), "accuracy": (0.97, 0.98, 0.98)},
    )
    # Any data source but synthetic is real data.
    assert _outcome().figures(REGISTRY).data_source == "real"
    cached = TestOutcome(NODE).with_run(_run((1.0,), data_source="cached"))
    assert cached.figures(REGISTRY).data_source == "real"


def test_images_per_second_is_derived_not_judged() -> None:
    outcome = _outcome()
    assert outcome.images_per_second == pytest.approx((6000.0, 5000.0, 4000.0, 4800.0))
    assert outcome.images_per_second_median == pytest.approx(4900.0)
    assert TestOutcome(NODE).images_per_second_median is None
    assert "images_per_second" not in outcome.samples(REGISTRY)


def test_accuracy_and_synthetic() -> None:
    outcome = _outcome()
    assert outcome.accuracy == 0.98
    assert outcome.with_run(_run((1.0,), accuracy=None)).accuracy == 0.98
    assert TestOutcome(NODE).accuracy is None
    assert not outcome.synthetic
    assert outcome.with_run(_run((1.0,), data_source="synthetic")).synthetic


def _judged(outcome: TestOutcome, registry: MetricRegistry) -> TestOutcome:
    tolerances = Tolerances.defaults(registry)
    baseline = Figures(
        node_id=NODE,
        model="lenet5",
        dataset="mnist",
        batch_size=128,
        data_source="real",
        samples={"epoch_seconds": (0.8, 0.82, 0.79), "accuracy": (0.98,)},
    )
    entry = BaselineEntry(
        figures=baseline,
        software=SOFTWARE,
        provenance=Provenance("2026-01-05T10:30:15+00:00", "ana@build-3", None),
    )
    comparison = compare(
        outcome.figures(registry),
        entry,
        tolerances,
        registry,
        software_now={**SOFTWARE, "tensorflow": "2.21.0"},
    )
    return outcome.replace(
        verdict=comparison.verdict,
        tolerances=tolerances,
        comparison=comparison,
        message=comparison.message("b.json", "pytest --cnnperf-accept", registry),
    )


@pytest.mark.parametrize("registry", [REGISTRY, CUSTOM], ids=["builtin", "custom"])
def test_round_trip_through_plain_data(registry: MetricRegistry) -> None:
    outcome = _judged(_outcome(), registry)
    assert outcome.verdict is Verdict.REGRESSED
    assert outcome.comparison is not None
    data = json.loads(json.dumps(outcome.to_dict()))
    again = TestOutcome.from_dict(data, registry)
    assert again == outcome
    assert again.to_dict() == outcome.to_dict()
    assert again.samples(registry) == outcome.samples(registry)


def test_plain_data_layout() -> None:
    outcome = _judged(_outcome(), REGISTRY)
    data = json.loads(json.dumps(outcome.to_dict()))
    assert sorted(data) == [
        "accuracy_checks",
        "comparison",
        "dataset",
        "failure",
        "message",
        "model",
        "node_id",
        "runs",
        "tolerances",
        "verdict",
    ]
    assert data["verdict"] == "regressed"
    assert data["tolerances"] == {"epoch_seconds": 0.25, "accuracy": 0.02}
    assert data["accuracy_checks"] == [{"threshold": 0.95, "measured": 0.98, "passed": True}]
    assert data["comparison"]["verdict"] == "regressed"
    assert data["comparison"]["software_changes"] == ["tensorflow 2.20.0 -> 2.21.0"]
    assert data["runs"][0]["preprocessing"] == ["normalize", "one_hot"]
    assert data["runs"][0]["epochs"][0]["warmup"] is True
    assert data["message"].startswith(f"Training performance of {NODE} regressed")


def test_round_trip_of_an_unjudged_outcome() -> None:
    for outcome in (
        TestOutcome(NODE),
        TestOutcome(NODE, failure="ResourceExhaustedError in epoch 1", verdict=Verdict.FAILED),
        _outcome(),
    ):
        data = json.loads(json.dumps(outcome.to_dict()))
        assert TestOutcome.from_dict(data, REGISTRY) == outcome
    data = TestOutcome(NODE, verdict=Verdict.FAILED).to_dict()
    assert (data["verdict"], data["comparison"], data["tolerances"]) == ("failed", None, None)


def test_from_dict_fills_defaults() -> None:
    assert TestOutcome.from_dict({"node_id": NODE}, REGISTRY) == TestOutcome(NODE)
