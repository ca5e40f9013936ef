"""Reading back what per-layer timing and windows add to a results file (``load_results``).

Pure tests, no TensorFlow. A test's runs carry their timed windows, their
arrangement and their profiled window (``layers``); its comparison carries
the per-layer comparisons (``parts``) and the figures of a confirmation.
Written and read back they give the same objects, field for field; each
malformed field is refused with a message naming it; files written before
these fields existed are still read.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_reliability_results import OTHER_TYPES, _parent, _places

from pytest_cnnperf.baselines.compare import Comparison, compare, confirmed
from pytest_cnnperf.baselines.model import Provenance, Verdict
from pytest_cnnperf.baselines.store import BaselineEntry
from pytest_cnnperf.baselines.tolerances import Tolerances
from pytest_cnnperf.jsonreport import ResultsError, document_for, load_results, serialize
from pytest_cnnperf.layerprofile import CategoryTiming, LayerProfile, LayerTiming
from pytest_cnnperf.metrics import MetricRegistry
from pytest_cnnperf.outcome import TestOutcome
from pytest_cnnperf.results import AccuracyCheck, EpochResult, TrainResult, WindowResult

REGISTRY = MetricRegistry()
PROPERTY = settings(max_examples=150, deadline=None)
MS = 1e-3
#: The profiled layers in model order, which is not the order of their names.
LAYERS = ("conv", "busy", "dense + dense_1")


def profile(busy_ms: float) -> LayerProfile:
    steps = 3

    def series(ms: float) -> tuple[float, ...]:
        return tuple(ms * MS * (1 + 0.01 * i) for i in range(steps))

    return LayerProfile(
        step_seconds=series(10 + busy_ms),
        layers=(
            LayerTiming(
                "conv",
                "Conv2D",
                "(None, 14, 14, 8)",
                80,
                series(2),
                series(4),
                series(0.1),
                forward_flops=451584,
            ),
            LayerTiming(
                "busy",
                "Busy",
                "(None, 14, 14, 8)",
                0,
                series(busy_ms),
                series(busy_ms),
                series(0.0),
            ),
            LayerTiming(
                "dense + dense_1",
                "Dense + Dense",
                "(None, 2)",
                66,
                series(0.5),
                series(1),
                series(0.1),
                forward_flops=128.0,
                members=("dense", "dense_1"),
            ),
        ),
        categories=(
            CategoryTiming("loss and metrics", series(0.3), True),
            CategoryTiming("between ops", series(0.6), False),
        ),
        unprofiled_step_seconds=9.5 * MS,
        window_seconds=0.25,
        warmup_steps=1,
        reference_steps=1,
        source="host",
        peak_flops_per_second=1.5e11,
        peak_source="a measured 1024x1024 float32 matrix product",
        notes=("Fused layers are named together.",),
    )


def run(busy_ms: float, kernel: float | None = 1.25 * MS) -> TrainResult:
    return TrainResult(
        model="layered_cnn",
        dataset="synthetic",
        data_source="synthetic",
        params=1234,
        batch_size=32,
        epochs=(EpochResult(1, 0.8, 16, 512, 0.7, {"accuracy": 0.5}, True),),
        accuracy=0.75,
        test_images=64,
        device="/device:CPU:0",
        preprocessing=("scale",),
        windows=(
            WindowResult(1, 0.21, 20, 640, 0.61, kernel),
            WindowResult(2, 0.2, 20, 640, 0.6, None),
            WindowResult(3, 0.22, 20, 640, 0.59, kernel),
        ),
        arrangement={"cores": 2, "threads": 2, "workers": 1, "pinned": False},
        layers=profile(busy_ms),
    )


def comparison(outcome: TestOutcome, baseline: TestOutcome) -> Comparison:
    """A step_time regression confirmed, with the layers compared: as the session makes it."""
    before = baseline.figures(REGISTRY)
    estimate = before.samples["step_time"][0]
    # Three sessions' worth of noise, as a baseline accepted with --cnnperf-sessions 3 has.
    samples = {**before.samples, "step_time": tuple(estimate * x for x in (0.97, 1.0, 1.03))}
    timing = {**(before.timing or {}), "sessions": 3}
    entry = BaselineEntry(
        dataclasses.replace(before, samples=samples, timing=timing),
        {"tensorflow": "2.20.0"},
        Provenance("2026-01-01T00:00:00+00:00", "ana@ci", "first"),
    )
    tolerances = Tolerances.defaults(REGISTRY)
    first = compare(
        outcome.figures(REGISTRY),
        entry,
        tolerances,
        REGISTRY,
        software_now={"tensorflow": "2.21.0"},
    )
    return confirmed(first, first, REGISTRY)


FAST = TestOutcome("t.py::test_layered", "layered_cnn", "synthetic", runs=(run(1.0),))
SLOW_RUNS = (run(30.0, kernel=0.5 * MS), run(31.0, kernel=0.5 * MS))
COMPARED = comparison(TestOutcome("t.py::test_layered", runs=SLOW_RUNS), FAST)
OUTCOME = TestOutcome(
    node_id="t.py::test_layered",
    model="layered_cnn",
    dataset="synthetic",
    runs=SLOW_RUNS,
    accuracy_checks=(AccuracyCheck(0.5, 0.75, True),),
    verdict=COMPARED.verdict,
    tolerances=Tolerances.defaults(REGISTRY),
    comparison=COMPARED,
    message="regressed",
)
TEXT = serialize(document_for((OUTCOME,), REGISTRY, environment={}, interrupted=False))


def load(path: Path, text: str) -> tuple[TestOutcome, ...]:
    path.write_text(text, encoding="utf-8")
    return load_results(path, REGISTRY).outcomes


def refusal(path: Path, document: Any) -> str:
    path.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(ResultsError) as info:
        load_results(path, REGISTRY)
    return str(info.value)


# --------------------------------------------------------------------------- round trip


def test_the_example_holds_every_block_this_reads() -> None:
    assert COMPARED.verdict is Verdict.REGRESSED
    assert [m.metric.name for m in COMPARED.metrics] == ["step_time", "accuracy"]
    step = COMPARED.metric("step_time")
    assert step is not None
    assert step.noise is not None and step.noise_dof == 2 and step.detail is not None
    assert step.confirmation is not None
    assert [p.metric.part for p in COMPARED.parts] == sorted(LAYERS)
    assert [p.metric.part for p in COMPARED.named_parts()] == ["busy"]


def test_windows_layers_and_parts_round_trip_exactly(tmp_path: Path) -> None:
    (loaded,) = load(tmp_path / "r.json", TEXT)
    assert loaded == OUTCOME
    assert loaded.runs[0].windows == SLOW_RUNS[0].windows
    assert loaded.runs[0].arrangement == SLOW_RUNS[0].arrangement
    profiled = loaded.runs[0].layers
    assert profiled is not None and profiled == SLOW_RUNS[0].layers
    assert tuple(layer.name for layer in profiled.layers) == LAYERS
    assert loaded.comparison is not None and loaded.comparison.parts == COMPARED.parts
    # The same figures follow from them: samples per layer, the timing behind step_time.
    assert loaded.samples(REGISTRY) == OUTCOME.samples(REGISTRY)
    assert loaded.timing() == OUTCOME.timing()
    assert serialize(document_for((loaded,), REGISTRY, environment={}, interrupted=False)) == TEXT


def test_metrics_come_back_in_registry_order_and_parts_by_name(tmp_path: Path) -> None:
    # The file's keys are sorted: accuracy before step_time, parts by name.
    comparison_block = json.loads(TEXT)["tests"][0]["comparison"]
    assert list(comparison_block["metrics"]) == ["accuracy", "step_time"]
    (loaded,) = load(tmp_path / "r.json", TEXT)
    assert loaded.comparison is not None
    assert [m.metric.name for m in loaded.comparison.metrics] == ["step_time", "accuracy"]
    assert loaded.comparison.message("b.json", "accept", REGISTRY) == COMPARED.message(
        "b.json", "accept", REGISTRY
    )


def test_files_written_before_these_fields_are_still_read(tmp_path: Path) -> None:
    document = json.loads(TEXT)
    test = document["tests"][0]
    for run_block in test["runs"]:
        for key in ("windows", "arrangement", "layers"):
            del run_block[key]
    del test["comparison"]["parts"]
    for block in test["comparison"]["metrics"].values():
        for key in ("noise", "noise_dof", "detail", "confirmation"):
            del block[key]
    (loaded,) = load(tmp_path / "r.json", json.dumps(document))
    assert [(r.windows, r.arrangement, r.layers) for r in loaded.runs] == [((), None, None)] * 2
    assert loaded.comparison is not None and loaded.comparison.parts == ()
    step = loaded.comparison.metric("step_time")
    assert step is not None
    assert (step.noise, step.noise_dof, step.detail, step.confirmation) == (None,) * 4


def test_a_null_layer_time_reads_back_as_nan(tmp_path: Path) -> None:
    document = json.loads(TEXT)
    document["tests"][0]["runs"][0]["layers"]["layers"][1]["forward_seconds"][0] = None
    (loaded,) = load(tmp_path / "r.json", json.dumps(document))
    layers = loaded.runs[0].layers
    assert layers is not None
    assert layers.layers[1].forward_seconds[0] != layers.layers[1].forward_seconds[0]


# --------------------------------------------------------------------------- messages

RUN = "tests[0].runs[1]"
PROFILE = f"{RUN}.layers"
PARTS = "tests[0].comparison.parts"
STEP = "tests[0].comparison.metrics.step_time"


def _set(document: Any, place: str, value: Any) -> None:
    """``document`` with the value at ``place`` (``tests[0].runs[1].windows``) replaced."""
    keys: list[Any] = []
    for piece in place.replace("]", "").replace("[", ".").split("."):
        keys.append(int(piece) if piece.isdigit() else piece)
    target = document
    for key in keys[:-1]:
        target = target[key]
    target[keys[-1]] = value


@pytest.mark.parametrize(
    ("place", "value", "form"),
    [
        (f"{RUN}.windows", {}, "a list"),
        (f"{RUN}.windows[1]", [], "a JSON object"),
        (f"{RUN}.windows[1].index", -1, "a whole number of at least 0"),
        (f"{RUN}.windows[1].seconds", "0.2", "a number or null"),
        (f"{RUN}.windows[1].steps", 2.5, "a whole number of at least 0"),
        (f"{RUN}.windows[1].images", None, "a whole number of at least 0"),
        (f"{RUN}.windows[1].loss", True, "a number or null"),
        (f"{RUN}.windows[1].calibration_seconds", "1 ms", "a number"),
        (f"{RUN}.arrangement", [2, 2, 1], "a JSON object"),
        (PROFILE, "off", "a JSON object"),
        (f"{PROFILE}.step_seconds", 0.01, "a list"),
        (f"{PROFILE}.step_seconds[2]", "x", "a number or null"),
        (f"{PROFILE}.layers", {}, "a list"),
        (f"{PROFILE}.layers[0]", "conv", "a JSON object"),
        (f"{PROFILE}.layers[0].name", None, "a string"),
        (f"{PROFILE}.layers[0].kind", 1, "a string"),
        (f"{PROFILE}.layers[0].output_shape", [14, 14, 8], "a string"),
        (f"{PROFILE}.layers[0].params", -80, "a whole number of at least 0"),
        (f"{PROFILE}.layers[0].backward_seconds", None, "a list"),
        (f"{PROFILE}.layers[0].optimizer_seconds[1]", "0.1", "a number or null"),
        (f"{PROFILE}.layers[0].forward_flops", "451584", "a number"),
        (f"{PROFILE}.layers[2].members", "dense", "a list"),
        (f"{PROFILE}.layers[2].members[1]", 1, "a string"),
        (f"{PROFILE}.categories", None, "a list"),
        (f"{PROFILE}.categories[1]", 0.6, "a JSON object"),
        (f"{PROFILE}.categories[1].name", 7, "a string"),
        (f"{PROFILE}.categories[1].covered", "no", "true or false"),
        (f"{PROFILE}.unprofiled_step_seconds", "9.5 ms", "a number"),
        (f"{PROFILE}.window_seconds", "0.25", "a number or null"),
        (f"{PROFILE}.warmup_steps", -1, "a whole number of at least 0"),
        (f"{PROFILE}.reference_steps", 1.0, "a whole number of at least 0"),
        (f"{PROFILE}.source", None, "a string"),
        (f"{PROFILE}.peak_flops_per_second", [1.5e11], "a number"),
        (f"{PROFILE}.peak_source", None, "a string"),
        (f"{PROFILE}.notes", "none", "a list"),
        (f"{PROFILE}.notes[0]", 0, "a string"),
        (f"{STEP}.noise", "3%", "a number"),
        (f"{STEP}.noise_dof", -2, "a whole number of at least 0"),
        (f"{STEP}.detail", ["windows"], "a string"),
        (f"{STEP}.confirmation", "2x", "a number"),
        (PARTS, [], "a JSON object"),
        (f"{PARTS}.layer_seconds/busy", 2.0, "a JSON object"),
        (
            f"{PARTS}.layer_seconds/busy.verdict",
            "worse",
            "one of " + ", ".join(v.value for v in Verdict),
        ),
        (f"{PARTS}.layer_seconds/busy.baseline_count", "12", "a whole number of at least 0"),
        (f"{PARTS}.layer_seconds/busy.change", "2x", "a number or null"),
    ],
)
def test_a_malformed_field_is_named_with_its_form(
    tmp_path: Path, place: str, value: Any, form: str
) -> None:
    path = tmp_path / "r.json"
    document = json.loads(TEXT)
    _set(document, place, value)
    assert refusal(path, document) == (
        f"Expected {place} in the results file {path} to be {form}. Received: {place}={value!r}."
    )


@pytest.mark.parametrize(
    "place",
    [
        f"{PROFILE}.layers[1].forward_seconds",
        f"{PROFILE}.layers[1].backward_seconds",
        f"{PROFILE}.layers[1].optimizer_seconds",
        f"{PROFILE}.categories[0].seconds",
    ],
)
def test_a_series_of_another_length_than_the_profiled_steps_is_refused(
    tmp_path: Path, place: str
) -> None:
    path = tmp_path / "r.json"
    document = json.loads(TEXT)
    _set(document, place, [0.001, 0.002])
    assert refusal(path, document) == (
        f"Expected {place} in the results file {path} to be a list of 3 numbers or nulls, one "
        f"per profiled step. Received: {place}=[0.001, 0.002]."
    )


def test_a_missing_field_of_a_profile_is_named(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    document = json.loads(TEXT)
    del document["tests"][0]["runs"][1]["layers"]["layers"][0]["forward_seconds"]
    place = f"{PROFILE}.layers[0].forward_seconds"
    assert refusal(path, document) == (
        f"Expected {place} in the results file {path} to be a list. "
        f"Received: {place}=nothing (the key is missing)."
    )


def test_a_part_of_a_metric_not_measured_per_part_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    document = json.loads(TEXT)
    comparison_block = document["tests"][0]["comparison"]
    comparison_block["parts"]["step_time"] = comparison_block["metrics"]["step_time"]
    assert refusal(path, document) == (
        f"Expected {PARTS}.step_time.metric in the results file {path} to be the name of a part "
        "of a metric of this session (layer_seconds/<part>). "
        f"Received: {PARTS}.step_time.metric='step_time'."
    )


def test_a_part_without_a_metric_measured_per_part_says_none(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    registry = MetricRegistry([m for m in REGISTRY if m.parts is None])
    text = serialize(document_for((OUTCOME,), REGISTRY, environment={}, interrupted=False))
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ResultsError) as info:
        load_results(path, registry)
    where = f"{PARTS}.layer_seconds/busy.metric"
    assert str(info.value) == (
        f"Expected {where} in the results file {path} to be the name of a part of a metric of "
        f"this session (none). Received: {where}='layer_seconds/busy'."
    )


def test_a_part_listed_under_another_name_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    document = json.loads(TEXT)
    parts = document["tests"][0]["comparison"]["parts"]
    parts["layer_seconds/conv"] = parts["layer_seconds/busy"]
    where = f"{PARTS}.layer_seconds/conv.metric"
    assert refusal(path, document) == (
        f"Expected {where} in the results file {path} to be 'layer_seconds/conv', the name it "
        f"is listed under. Received: {where}='layer_seconds/busy'."
    )


# --------------------------------------------------------------------------- properties


# The places these blocks add: windows, arrangement, layers, parts, metric details.
ADDED = ("windows", "arrangement", "layers", "parts", "noise", "noise_dof", "detail")
PLACES = [p for p in _places(json.loads(TEXT)) if any(key in p for key in ADDED)]


@pytest.fixture(scope="module")
def results_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("results") / "r.json"


def _read_or_refused(path: Path, document: Any) -> None:
    path.write_text(json.dumps(document), encoding="utf-8")
    try:
        load_results(path, REGISTRY)
    except ResultsError as error:
        assert str(path) in str(error)


@PROPERTY
@given(place=st.sampled_from(PLACES), replacement=st.sampled_from(OTHER_TYPES))
def test_any_value_of_another_type_is_read_or_refused_naming_the_file(
    results_path: Path, place: tuple[Any, ...], replacement: Any
) -> None:
    document = json.loads(TEXT)
    parent = _parent(document, place)
    if type(parent[place[-1]]) is type(replacement):
        replacement = "a string" if not isinstance(replacement, str) else 17
    parent[place[-1]] = replacement
    _read_or_refused(results_path, document)


@PROPERTY
@given(place=st.sampled_from([p for p in PLACES if isinstance(p[-1], str)]))
def test_any_missing_key_is_read_or_refused_naming_the_file(
    results_path: Path, place: tuple[Any, ...]
) -> None:
    document = json.loads(TEXT)
    del _parent(document, place)[place[-1]]
    _read_or_refused(results_path, document)


_seconds = st.floats(min_value=1e-7, max_value=10.0)
_text = st.text(max_size=10)


@st.composite
def _profiles(draw: st.DrawFn) -> LayerProfile:
    steps = draw(st.integers(min_value=0, max_value=4))
    series = st.lists(_seconds, min_size=steps, max_size=steps).map(tuple)
    return LayerProfile(
        step_seconds=draw(series),
        layers=tuple(
            draw(
                st.lists(
                    st.builds(
                        LayerTiming,
                        name=_text,
                        kind=_text,
                        output_shape=_text,
                        params=st.integers(min_value=0, max_value=10**8),
                        forward_seconds=series,
                        backward_seconds=series,
                        optimizer_seconds=series,
                        forward_flops=st.none() | st.floats(min_value=0, max_value=1e15),
                        members=st.lists(_text, max_size=2).map(tuple),
                    ),
                    max_size=3,
                )
            )
        ),
        categories=tuple(
            draw(st.lists(st.builds(CategoryTiming, _text, series, st.booleans()), max_size=3))
        ),
        unprofiled_step_seconds=draw(st.none() | _seconds),
        window_seconds=draw(_seconds),
        warmup_steps=draw(st.integers(min_value=0, max_value=3)),
        reference_steps=draw(st.integers(min_value=0, max_value=3)),
        source=draw(st.sampled_from(["host", "device"])),
        peak_flops_per_second=draw(st.none() | st.floats(min_value=1.0, max_value=1e15)),
        peak_source=draw(_text),
        notes=tuple(draw(st.lists(_text, max_size=2))),
    )


_windows = st.builds(
    WindowResult,
    index=st.integers(min_value=0, max_value=100),
    seconds=_seconds,
    steps=st.integers(min_value=0, max_value=1000),
    images=st.integers(min_value=0, max_value=10**5),
    loss=st.floats(min_value=-10, max_value=10),
    calibration_seconds=st.none() | _seconds,
)
_arrangements = st.none() | st.fixed_dictionaries(
    {"cores": st.integers(1, 64), "threads": st.integers(1, 64), "workers": st.integers(1, 8)},
    optional={"pinned": st.booleans()},
)


@PROPERTY
@given(
    windows=st.lists(_windows, max_size=3).map(tuple),
    arrangement=_arrangements,
    layers=st.none() | _profiles(),
)
def test_any_run_s_windows_and_profile_round_trip_exactly(
    results_path: Path,
    windows: tuple[WindowResult, ...],
    arrangement: dict[str, Any] | None,
    layers: LayerProfile | None,
) -> None:
    outcome = TestOutcome(
        "t.py::test_x",
        runs=(
            dataclasses.replace(
                FAST.runs[0], windows=windows, arrangement=arrangement, layers=layers
            ),
        ),
    )
    text = serialize(document_for((outcome,), REGISTRY, environment={}, interrupted=False))
    results_path.write_text(text, encoding="utf-8")
    assert load_results(results_path, REGISTRY).outcomes == (outcome,)
