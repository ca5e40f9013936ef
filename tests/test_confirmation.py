"""The confirmation run (``--cnnperf-confirm``) at the decision boundary, without training.

A ``step_time`` regression is measured again before it fails a test. When
the second measurement does not regress, the metric becomes ``unstable`` and
the per-layer comparisons that explained it (the layers named as grown) are
dropped: from the verdict's message and from the results JSON. Comparisons
are made by ``compare`` from figures given directly; the session's wiring is
driven with a stand-in for the retraining.
"""

from __future__ import annotations

import dataclasses
import json
from types import SimpleNamespace
from typing import Any, cast

import pytest

from pytest_cnnperf import jsonreport
from pytest_cnnperf.baselines.compare import Comparison, compare, confirmed
from pytest_cnnperf.baselines.model import Figures, Provenance, Verdict
from pytest_cnnperf.baselines.store import BaselineEntry
from pytest_cnnperf.baselines.tolerances import Tolerances
from pytest_cnnperf.config import REGISTRY_KEY
from pytest_cnnperf.metrics import MetricRegistry
from pytest_cnnperf.outcome import TestOutcome
from pytest_cnnperf.session import CONFIRM_KEY, CnnperfSession

MS = 1e-3
REGISTRY = MetricRegistry()
TOLERANCES = Tolerances.defaults(REGISTRY)
ACCEPT = "pytest t --cnnperf-update-baselines"
LAYERS_NAMED = (
    "Layers whose time grew beyond the tolerance (layer_seconds, 6 and 6 profiled steps):"
)


def figures(step: float, layer_ms: dict[str, float]) -> Figures:
    """Three runs' step_time estimates, six profiled steps per layer."""
    samples = {"step_time": tuple(step * (1 + 0.01 * i) for i in range(3))}
    for name, ms in layer_ms.items():
        samples[f"layer_seconds/{name}"] = tuple(ms * MS * (1 + 0.01 * i) for i in range(6))
    return Figures("t", "net", "mnist", 32, "real", samples)


ENTRY = BaselineEntry(
    # Accepted from three separate sessions: their spread is the noise evidence.
    dataclasses.replace(figures(1.0, {"conv": 5, "dense": 2}), timing={"sessions": 3}),
    {},
    Provenance("2026-01-01T00:00:00+00:00", "ana@ci", None),
)


def judged(now: Figures) -> Comparison:
    return compare(now, ENTRY, TOLERANCES, REGISTRY, software_now={})


#: The first measurement: step_time doubled, and conv is the layer that grew.
FIRST = judged(figures(2.0, {"conv": 40, "dense": 2}))


def test_the_first_measurement_names_the_grown_layer() -> None:
    assert FIRST.verdict is Verdict.REGRESSED
    assert [p.metric.part for p in FIRST.named_parts()] == ["conv"]
    assert f"{LAYERS_NAMED}\n  conv: 5.12 ms -> 41 ms per step" in FIRST.message(
        "b.json", ACCEPT, REGISTRY
    )


def test_an_unconfirmed_regression_drops_the_layers_from_the_verdict_and_the_json() -> None:
    second = judged(figures(1.0, {"conv": 40, "dense": 2}))
    assert second.metric("step_time") is not None
    assert second.verdict is Verdict.PASS

    merged = confirmed(FIRST, second, REGISTRY)

    assert merged.verdict is Verdict.UNSTABLE
    step = merged.metric("step_time")
    assert step is not None and step.verdict is Verdict.UNSTABLE
    assert step.reason == (
        "the first measurement regressed but the confirmation in this session did not (pass)"
    )
    assert step.confirmation == second.metrics[0].change
    assert merged.parts == () and merged.named_parts() == []
    message = merged.message("b.json", ACCEPT, REGISTRY)
    assert message.startswith(
        "Training performance of t could not be judged: the timing noise is too large for "
        "the tolerance.\n  step_time: measured "
    )
    assert (
        "; the first measurement regressed but the confirmation in this session did not "
        "(pass); measured again in this session (confirmation): 1x the baseline" in message
    )
    assert "Layers whose" not in message and "No layer's" not in message
    assert "conv" not in message
    data = merged.to_dict()
    assert data["parts"] == {} and data["named_parts"] == []
    # ... and the results file: no per-layer comparison is left in the test's comparison.
    outcome = TestOutcome("t", verdict=merged.verdict, comparison=merged)
    (test,) = json.loads(
        jsonreport.serialize(
            jsonreport.document_for((outcome,), REGISTRY, environment={}, interrupted=False)
        )
    )["tests"]
    assert test["comparison"]["verdict"] == "unstable"
    assert test["comparison"]["parts"] == {} and test["comparison"]["named_parts"] == []


def test_a_confirmation_without_a_step_time_figure_drops_them_too() -> None:
    # The confirmation measured nothing comparable (its windows were all lost, say).
    second = judged(Figures("t", "net", "mnist", 32, "real", {"accuracy": (0.9,)}))
    merged = confirmed(FIRST, second, REGISTRY)
    step = merged.metric("step_time")
    assert step is not None and step.confirmation is None
    assert step.reason == (
        "the first measurement regressed but the confirmation in this session did not (no figure)"
    )
    assert merged.verdict is Verdict.UNSTABLE and merged.parts == ()


def test_a_confirmed_regression_keeps_the_layers() -> None:
    second = judged(figures(2.1, {"conv": 42, "dense": 2}))
    merged = confirmed(FIRST, second, REGISTRY)
    assert merged.verdict is Verdict.REGRESSED
    assert merged.parts == FIRST.parts
    step = merged.metric("step_time")
    assert step is not None and step.reason == FIRST.metrics[0].reason
    message = merged.message("b.json", ACCEPT, REGISTRY)
    assert f"{LAYERS_NAMED}\n  conv: 5.12 ms -> 41 ms per step" in message
    assert merged.to_dict()["named_parts"] == ["layer_seconds/conv"]


def test_the_session_keeps_both_measurements_and_drops_the_unconfirmed_layers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pytest_cnnperf.results import EpochResult, TrainResult

    def a_run(model: str) -> TrainResult:
        epochs = (EpochResult(1, 1.0, 10, 320, 0.5, {}, False),)
        return TrainResult(model, "mnist", "real", 10, 32, epochs, None, 0, "cpu")

    config = SimpleNamespace(stash={REGISTRY_KEY: REGISTRY})
    session = CnnperfSession(cast(Any, config), cast(Any, SimpleNamespace(confirm=True)))
    answers = [FIRST, judged(figures(1.0, {"conv": 40, "dense": 2}))]
    compared: list[TestOutcome] = []

    def fake_compare(outcome: TestOutcome, tolerances: Tolerances, entry: Any) -> Comparison:
        compared.append(outcome)
        return answers[len(compared) - 1]

    monkeypatch.setattr(session, "_compare", fake_compare)
    item = SimpleNamespace(stash={CONFIRM_KEY: lambda: [a_run("again")]})
    outcome = TestOutcome("t").with_run(a_run("first"))

    both, comparison = session._confirm(cast(Any, item), outcome, TOLERANCES, ENTRY)

    assert [o.runs[0].model for o in compared] == ["first", "again"]
    assert [run.model for run in both.runs] == ["first", "again"]
    assert comparison == confirmed(answers[0], answers[1], REGISTRY)
    assert comparison.verdict is Verdict.UNSTABLE and comparison.parts == ()


def test_without_confirmation_the_first_comparison_stands(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = SimpleNamespace(stash={REGISTRY_KEY: REGISTRY})
    session = CnnperfSession(cast(Any, config), cast(Any, SimpleNamespace(confirm=False)))
    monkeypatch.setattr(session, "_compare", lambda outcome, tolerances, entry: FIRST)
    item = SimpleNamespace(stash={CONFIRM_KEY: lambda: pytest.fail("trained again")})
    outcome = TestOutcome("t")
    assert session._confirm(cast(Any, item), outcome, TOLERANCES, ENTRY) == (outcome, FIRST)
