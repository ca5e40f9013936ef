"""Reading a results file back: ``jsonreport.load_results``.

Pure tests, no TensorFlow. The property-based tests feed it any JSON
document, any truncation of a real results file, and real files with one
value replaced by another type or one key removed: it returns, or raises one
``ResultsError`` naming the file, and nothing else. A valid file round-trips.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_cnnperf import jsonreport
from pytest_cnnperf.baselines import Verdict
from pytest_cnnperf.baselines.compare import Comparison, MetricComparison
from pytest_cnnperf.baselines.model import Provenance
from pytest_cnnperf.baselines.tolerances import MetricTolerance, Tolerances
from pytest_cnnperf.jsonreport import (
    RESULTS_SCHEMA_VERSION,
    ResultsError,
    document_for,
    load_results,
    serialize,
)
from pytest_cnnperf.metrics import MetricRegistry
from pytest_cnnperf.outcome import TestOutcome
from pytest_cnnperf.results import AccuracyCheck, EpochResult, TrainResult

REGISTRY = MetricRegistry()
PROPERTY = settings(max_examples=200, deadline=None)
ENVIRONMENT = {"software": {"python": "3.11.7"}, "device": {"kind": "cpu"}, "seed": 0}


# --------------------------------------------------------------------------- a real file


def _run(seconds: list[float], *, loss: float = 0.5) -> TrainResult:
    return TrainResult(
        model="lenet5",
        dataset="mnist",
        data_source="real",
        params=61706,
        batch_size=128,
        epochs=tuple(
            EpochResult(
                index=i + 1,
                seconds=s,
                steps=10,
                images=1280,
                loss=loss if i else math.nan,  # a non-finite loss is written as null
                metrics={"accuracy": 0.5 + i / 10},
                warmup=i == 0,
            )
            for i, s in enumerate(seconds)
        ),
        accuracy=0.97,
        test_images=2000,
        device="/device:CPU:0",
        preprocessing=("scale",),
    )


def _comparison(node_id: str) -> Comparison:
    epoch = REGISTRY.get("epoch_seconds")
    assert epoch is not None
    return Comparison(
        node_id=node_id,
        verdict=Verdict.PASS,
        metrics=(
            MetricComparison(
                rule=MetricTolerance(epoch, 0.25),
                verdict=Verdict.PASS,
                baseline=1.0,
                current=1.02,
                change=1.02,
                interval_low=0.98,
                interval_high=1.05,
                confidence=0.9,
                low_confidence=False,
                baseline_count=3,
                current_count=2,
                current_relative_spread=0.01,
            ),
        ),
        software_changes=("tensorflow 2.20.0 -> 2.21.0",),
        notes=(),
        current={"epoch_seconds": 1.02, "accuracy": 0.97},
        baseline=Provenance("2026-01-01T00:00:00+00:00", "ana@build-3", None),
    )


OUTCOMES = (
    TestOutcome(
        node_id="suite.py::test_lenet[lenet5-mnist]",
        model="lenet5",
        dataset="mnist",
        runs=(_run([3.0, 1.0, 1.1]), _run([2.5, 1.05])),
        accuracy_checks=(AccuracyCheck(0.9, 0.97, True),),
        verdict=Verdict.PASS,
        tolerances=Tolerances({"epoch_seconds": 0.25, "accuracy": 0.02}),
        comparison=_comparison("suite.py::test_lenet[lenet5-mnist]"),
    ),
    TestOutcome(
        node_id="suite.py::test_failed",
        verdict=Verdict.FAILED,
        failure="Could not build 'x': no such model",
    ),
)

REAL_TEXT = serialize(document_for(OUTCOMES, REGISTRY, environment=ENVIRONMENT, interrupted=False))


@pytest.fixture(scope="module")
def results_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One file the property tests overwrite (Hypothesis reruns a test, not its fixtures)."""
    return tmp_path_factory.mktemp("results") / "results.json"


def _load_or_refuse(path: Path, text: str) -> Any:
    """``load_results`` of ``text``: its result, or the ResultsError, which must name the file."""
    path.write_text(text, encoding="utf-8")
    try:
        return load_results(path, REGISTRY)
    except ResultsError as error:
        assert str(path) in str(error)
        return error


def _reserialized(outcomes: tuple[TestOutcome, ...]) -> Any:
    """The tests of these outcomes as a results file holds them."""
    return json.loads(serialize({"tests": [jsonreport.test_dict(o, REGISTRY) for o in outcomes]}))[
        "tests"
    ]


def test_a_written_file_loads_and_round_trips(results_path: Path) -> None:
    loaded = _load_or_refuse(results_path, REAL_TEXT)
    assert not isinstance(loaded, ResultsError), loaded
    assert loaded.schema_version == RESULTS_SCHEMA_VERSION == 2
    assert loaded.interrupted is False
    assert loaded.environment == ENVIRONMENT
    assert [o.node_id for o in loaded.outcomes] == [o.node_id for o in OUTCOMES]
    assert loaded.outcomes[0].comparison == OUTCOMES[0].comparison
    assert loaded.outcomes[0].tolerances == OUTCOMES[0].tolerances
    assert math.isnan(loaded.outcomes[0].runs[0].epochs[0].loss)
    assert _reserialized(loaded.outcomes) == json.loads(REAL_TEXT)["tests"]


# --------------------------------------------------------------------------- messages


def _refusal(path: Path, text: str | bytes) -> str:
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    with pytest.raises(ResultsError) as info:
        load_results(path, REGISTRY)
    return str(info.value)


def _document() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(REAL_TEXT)
    return document


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    text = json.dumps({**_document(), "schema_version": 3})
    assert _refusal(path, text) == (
        f"The results file {path} has schema_version 3, but this pytest-cnnperf reads schema "
        "version 2 only. Upgrade pytest-cnnperf to read it."
    )


def test_an_older_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    text = json.dumps({**_document(), "schema_version": 1})
    assert _refusal(path, text) == (
        f"The results file {path} has schema_version 1, but this pytest-cnnperf reads schema "
        "version 2 only. Run the tests again to write a file of the current version."
    )


def test_invalid_json_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    assert _refusal(path, '{\n  "schema_version": 2,\n  oops') == (
        f"The results file {path} is not valid JSON: Expecting property name enclosed in "
        "double quotes at line 3, column 3."
    )


@pytest.mark.parametrize("number", ["NaN", "-Infinity", "1e400"])
def test_numbers_that_are_not_finite_are_not_json(tmp_path: Path, number: str) -> None:
    path = tmp_path / "r.json"
    assert _refusal(path, f'{{"schema_version": 2, "x": {number}}}') == (
        f"The results file {path} is not valid JSON: {number} is not a number JSON allows."
    )


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "missing.json"
    with pytest.raises(ResultsError) as info:
        load_results(path, REGISTRY)
    assert str(info.value) == (
        f"Could not read the results file {path}: No such file or directory."
    )


def test_a_binary_file_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    assert _refusal(path, b'{"a": "\xff"}') == (
        f"The results file {path} is not UTF-8 text: invalid start byte at byte 7."
    )


def test_the_top_level_must_be_an_object(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    assert _refusal(path, "[1, 2]") == (
        f"Expected the top level in the results file {path} to be a JSON object. "
        "Received: the top level=[1, 2]."
    )


def test_a_wrong_type_names_the_field(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    document = _document()
    document["tests"][0]["runs"][1]["batch_size"] = "128"
    assert _refusal(path, json.dumps(document)) == (
        f"Expected tests[0].runs[1].batch_size in the results file {path} to be a whole number "
        "of at least 1. Received: tests[0].runs[1].batch_size='128'."
    )


def test_a_missing_key_names_the_field(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    document = _document()
    del document["tests"][1]["node_id"]
    assert _refusal(path, json.dumps(document)) == (
        f"Expected tests[1].node_id in the results file {path} to be a string. "
        "Received: tests[1].node_id=nothing (the key is missing)."
    )


def test_a_metric_the_session_does_not_know_is_named(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    document = _document()
    metrics = document["tests"][0]["comparison"]["metrics"]
    metrics["final_loss"] = {**metrics["step_time"], "metric": "final_loss"}
    assert _refusal(path, json.dumps(document)) == (
        "Expected tests[0].comparison.metrics.final_loss.metric in the results file "
        f"{path} to be the name of a metric of this session (step_time, accuracy, layer_seconds). "
        "Received: tests[0].comparison.metrics.final_loss.metric='final_loss'."
    )


def test_a_metric_listed_under_another_name_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    document = _document()
    metrics = document["tests"][0]["comparison"]["metrics"]
    metrics["accuracy"] = metrics.pop("step_time")
    assert _refusal(path, json.dumps(document)) == (
        "Expected tests[0].comparison.metrics.accuracy.metric in the results file "
        f"{path} to be 'accuracy', the name it is listed under. "
        "Received: tests[0].comparison.metrics.accuracy.metric='step_time'."
    )


def test_nesting_too_deep_for_the_decoder_is_not_json(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    text = '{"schema_version": 2, "environment": ' + "[" * 5000 + "]" * 5000 + "}"
    assert _refusal(path, text) == (
        f"The results file {path} is not valid JSON: maximum recursion depth exceeded while "
        "decoding a JSON array from a unicode string."
    )


def test_an_outcome_the_outcome_model_refuses_is_a_results_error(
    results_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every field is checked before TestOutcome.from_dict; should its plain-data form
    # change, its error still reaches the caller as a ResultsError naming the file.
    def changed(data: Any, registry: MetricRegistry) -> TestOutcome:
        raise KeyError("new_field")

    monkeypatch.setattr(TestOutcome, "from_dict", changed)
    error = _load_or_refuse(results_path, REAL_TEXT)
    assert str(error) == (
        f"Could not read tests[0] of the results file {results_path}: 'new_field'."
    )


def test_a_bad_tolerance_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    document = _document()
    document["tests"][0]["tolerances"]["accuracy"] = 2
    assert _refusal(path, json.dumps(document)) == (
        f"Expected tests[0].tolerances.accuracy in the results file {path} to be a valid "
        "tolerance (a tolerance in absolute points such as '2pt' or '0.02' (a fraction below "
        "1)). "
        "Received: tests[0].tolerances.accuracy=2."
    )


def test_a_long_value_is_shortened_in_the_message(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    document = _document()
    document["interrupted"] = "x" * 500
    message = _refusal(path, json.dumps(document))
    assert message.endswith("Received: interrupted='" + "x" * 76 + "....")
    assert len(message) < 250


def test_fields_this_version_does_not_read_are_ignored(results_path: Path) -> None:
    document = _document()
    document["ci_job"] = "nightly-42"  # added by a pytest_cnnperf_update_json hook
    document["tests"][0]["epoch_seconds_median"] = "derived, not read"
    loaded = _load_or_refuse(results_path, json.dumps(document))
    assert not isinstance(loaded, ResultsError), loaded
    assert len(loaded.outcomes) == 2


# --------------------------------------------------------------------------- properties

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**6), max_value=10**6)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
)
json_values = st.recursive(
    _scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
# Documents shaped like results files, so that the checks below the header are reached too.
results_like = st.fixed_dictionaries(
    {
        "schema_version": st.just(2) | json_values,
        "interrupted": st.booleans() | json_values,
        "environment": st.dictionaries(st.text(max_size=4), json_values, max_size=2),
        "tests": st.lists(
            st.fixed_dictionaries(
                {"node_id": st.text(max_size=6) | json_values},
                optional={
                    key: json_values
                    for key in (
                        "model",
                        "dataset",
                        "runs",
                        "accuracy_checks",
                        "verdict",
                        "tolerances",
                        "comparison",
                        "message",
                        "failure",
                    )
                },
            ),
            max_size=2,
        ),
    }
)


@PROPERTY
@given(document=json_values | results_like)
def test_any_json_document_is_read_or_refused_naming_the_file(
    results_path: Path, document: Any
) -> None:
    _load_or_refuse(results_path, json.dumps(document))


@PROPERTY
@given(cut=st.integers(min_value=0, max_value=len(REAL_TEXT) - 1))
def test_any_truncation_is_refused_naming_the_file(results_path: Path, cut: int) -> None:
    text = REAL_TEXT[:cut]
    result = _load_or_refuse(results_path, text)
    if text.strip() != REAL_TEXT.strip():
        assert isinstance(result, ResultsError)
        assert "is not valid JSON" in str(result)


def _places(value: Any, where: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """The path of every value inside ``value``, its own path first."""
    yield where
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _places(item, (*where, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _places(item, (*where, index))


PLACES = [place for place in _places(json.loads(REAL_TEXT)) if place]
OTHER_TYPES: list[Any] = [None, True, 0, -1, 2.5, "x", [], {}, [1], {"a": 1}]


def _parent(document: Any, place: tuple[Any, ...]) -> Any:
    for key in place[:-1]:
        document = document[key]
    return document


@PROPERTY
@given(place=st.sampled_from(PLACES), replacement=st.sampled_from(OTHER_TYPES))
def test_any_value_of_another_type_is_read_or_refused_naming_the_file(
    results_path: Path, place: tuple[Any, ...], replacement: Any
) -> None:
    document = json.loads(REAL_TEXT)
    parent = _parent(document, place)
    if type(parent[place[-1]]) is type(replacement):
        replacement = "a string" if not isinstance(replacement, str) else 17
    parent[place[-1]] = replacement
    _load_or_refuse(results_path, json.dumps(document))


@PROPERTY
@given(place=st.sampled_from([p for p in PLACES if isinstance(p[-1], str)]))
def test_any_missing_key_is_read_or_refused_naming_the_file(
    results_path: Path, place: tuple[Any, ...]
) -> None:
    document = json.loads(REAL_TEXT)
    del _parent(document, place)[place[-1]]
    _load_or_refuse(results_path, json.dumps(document))


# Outcomes as the runner, the session and the report hook make them.
_text = st.text(max_size=12)
_finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)
_fraction = st.floats(min_value=0.0, max_value=1.0)
_epochs = st.builds(
    EpochResult,
    index=st.integers(min_value=1, max_value=100),
    seconds=st.floats(min_value=1e-6, max_value=1e4),
    steps=st.integers(min_value=0, max_value=10**4),
    images=st.integers(min_value=0, max_value=10**6),
    loss=_finite | st.sampled_from([math.nan, math.inf]),
    metrics=st.just({}) | st.builds(lambda a: {"accuracy": a}, _fraction),
    warmup=st.booleans(),
)
_runs = st.builds(
    TrainResult,
    model=_text,
    dataset=_text,
    data_source=st.sampled_from(["real", "synthetic"]),
    params=st.integers(min_value=0, max_value=10**9),
    batch_size=st.integers(min_value=1, max_value=4096),
    epochs=st.lists(_epochs, max_size=4).map(tuple),
    accuracy=st.none() | _fraction,
    test_images=st.integers(min_value=0, max_value=10**5),
    device=_text,
    preprocessing=st.lists(_text, max_size=3).map(tuple),
    fallback_reason=st.none() | _text,
)
_verdicts = st.sampled_from(list(Verdict))


@st.composite
def _metric_comparisons(draw: st.DrawFn, name: str) -> MetricComparison:
    metric = REGISTRY.get(name)
    assert metric is not None
    limit = draw(st.floats(min_value=0.001, max_value=0.99))
    return MetricComparison(
        rule=MetricTolerance(metric, limit),
        verdict=draw(_verdicts),
        baseline=draw(_finite),
        current=draw(_finite),
        change=draw(_finite),
        interval_low=draw(_finite),
        interval_high=draw(_finite),
        confidence=draw(st.none() | _fraction),
        low_confidence=draw(st.booleans()),
        baseline_count=draw(st.integers(min_value=0, max_value=100)),
        current_count=draw(st.integers(min_value=0, max_value=100)),
        current_relative_spread=draw(st.none() | _finite),
        reason=draw(st.none() | _text),
    )


@st.composite
def _comparisons(draw: st.DrawFn) -> Comparison:
    # A comparison names judged metrics only: recorded ones (GPU telemetry) are never compared.
    judged = [m.name for m in REGISTRY if m.judged]
    names = draw(st.lists(st.sampled_from(judged), unique=True))
    return Comparison(
        node_id=draw(_text),
        verdict=draw(_verdicts),
        metrics=tuple(draw(_metric_comparisons(name)) for name in names),
        software_changes=tuple(draw(st.lists(_text, max_size=2))),
        notes=tuple(draw(st.lists(_text, max_size=2))),
        current=draw(st.none() | st.dictionaries(st.sampled_from(REGISTRY.names()), _finite)),
        baseline=draw(st.none() | st.builds(Provenance, _text, _text, st.none() | _text)),
    )


_outcomes = st.builds(
    TestOutcome,
    node_id=st.text(min_size=1, max_size=20),
    model=_text,
    dataset=_text,
    runs=st.lists(_runs, max_size=2).map(tuple),
    accuracy_checks=st.lists(
        st.builds(AccuracyCheck, _fraction, st.none() | _fraction, st.booleans()), max_size=2
    ).map(tuple),
    verdict=st.none() | _verdicts,
    tolerances=st.none()
    | st.builds(
        Tolerances,
        st.fixed_dictionaries(
            {},
            optional={
                "epoch_seconds": st.floats(min_value=0.01, max_value=10.0),
                "accuracy": st.floats(min_value=0.001, max_value=0.5),
            },
        ),
    ),
    comparison=st.none() | _comparisons(),
    message=st.none() | _text,
    failure=st.none() | _text,
)


@PROPERTY
@given(
    outcomes=st.lists(_outcomes, max_size=3).map(tuple),
    interrupted=st.booleans(),
)
def test_a_valid_file_round_trips(
    results_path: Path, outcomes: tuple[TestOutcome, ...], interrupted: bool
) -> None:
    text = serialize(
        document_for(outcomes, REGISTRY, environment=ENVIRONMENT, interrupted=interrupted)
    )
    loaded = _load_or_refuse(results_path, text)
    assert not isinstance(loaded, ResultsError), loaded
    assert loaded.interrupted is interrupted
    assert loaded.environment == ENVIRONMENT
    assert _reserialized(loaded.outcomes) == json.loads(text)["tests"]
