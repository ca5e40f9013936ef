"""Unit tests of the three-way rule, its statistics, windows, history and schema 4.

The error rates of ``judge_runs`` are checked on simulated log-normal noise
between runs, the model the rule assumes; the rates on real training are
measured by ``benchmarks/verdict_rates.py`` (docs/baselines.md).
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest

from pytest_cnnperf.baselines import (
    BaselineEntry,
    Figures,
    Provenance,
    Tolerances,
    Verdict,
    compare,
)
from pytest_cnnperf.baselines.compare import MetricComparison, judge_runs, session_estimates
from pytest_cnnperf.baselines.history import (
    HistoryLine,
    append_history,
    read_history,
)
from pytest_cnnperf.baselines.stats import pooled_log_sd, run_estimate, t_quantile
from pytest_cnnperf.baselines.store import migrate_3_to_4
from pytest_cnnperf.metrics import MetricRegistry

REGISTRY = MetricRegistry()
NODE = "t.py::test_a"
PROVENANCE = Provenance("2026-12-01T09:00:00+00:00", "ana@ci", None)
ARRANGEMENT = {"cores": 2, "threads": 2, "workers": 1, "pinned": False}


def _simulate(
    sigma: float, slowdown: float, *, base_runs: int, history_runs: int, trials: int, seed: int
) -> dict[Verdict, int]:
    rng = random.Random(seed)
    counts = dict.fromkeys(Verdict, 0)
    for _ in range(trials):
        base = [math.exp(rng.gauss(0, sigma)) for _ in range(base_runs)]
        history = [math.exp(rng.gauss(0, sigma)) for _ in range(history_runs)]
        current = [(1 + slowdown) * math.exp(rng.gauss(0, sigma))]
        noise, dof = pooled_log_sd([base, history])
        counts[judge_runs(base, current, noise, dof, 0.10).verdict] += 1
    return counts


def test_false_alarms_stay_under_the_design_rate_on_simulated_noise() -> None:
    # 3% between-session noise, a baseline of 3 sessions and 10 sessions of history.
    counts = _simulate(0.03, 0.0, base_runs=3, history_runs=10, trials=4000, seed=1)
    # The design rate is 1% per test (99% one-sided), before confirmation.
    assert counts[Verdict.REGRESSED] / 4000 < 0.015
    assert counts[Verdict.UNSTABLE] / 4000 < 0.25


@pytest.mark.parametrize(("slowdown", "at_least"), [(0.20, 0.95), (0.10, 0.45)])
def test_detection_on_simulated_noise(slowdown: float, at_least: float) -> None:
    counts = _simulate(0.03, slowdown, base_runs=3, history_runs=10, trials=2000, seed=2)
    assert counts[Verdict.REGRESSED] / 2000 >= at_least
    # A pass rules out the tolerance at 95%: at +10% about 5% pass by design.
    assert counts[Verdict.PASS] / 2000 < 0.07


def test_noise_beyond_the_tolerance_answers_unstable_not_a_guess() -> None:
    # 25% noise per run: neither a pass nor a regression can be claimed.
    counts = _simulate(0.25, 0.0, base_runs=3, history_runs=10, trials=2000, seed=3)
    assert counts[Verdict.UNSTABLE] / 2000 > 0.85
    assert counts[Verdict.REGRESSED] / 2000 < 0.01


def test_too_little_evidence_is_unstable_with_a_reason() -> None:
    judged = judge_runs([1.0], [1.5], *pooled_log_sd([[1.0]]), 0.10)
    assert judged.verdict is Verdict.UNSTABLE
    assert judged.reason == (
        "too little evidence of the between-session noise (noise from 1 session; 3 separate "
        "sessions are needed, and runs of one session count as one: they agree more closely "
        "than separate sessions do); accept with --cnnperf-sessions 3 or keep a history file "
        "(--cnnperf-history), to which every run adds a session"
    )


def test_a_tiny_confident_change_is_not_a_failure() -> None:
    # 0.1% noise: a 3% slowdown is certain, but below half the 10% tolerance.
    judged = judge_runs([1.0, 1.001, 0.999], [1.03], 0.001, 20, 0.10)
    assert judged.verdict is Verdict.UNSTABLE or judged.verdict is Verdict.PASS
    assert judged.verdict is not Verdict.REGRESSED


def test_rule_numbers() -> None:
    judged = judge_runs([1.0, 1.0, 1.0], [1.3], 0.03, 10, 0.10)
    assert judged.verdict is Verdict.REGRESSED
    assert judged.change == pytest.approx(1.3)
    se = 0.03 * math.sqrt(1 / 3 + 1)
    assert judged.standard_error == pytest.approx(se)
    assert judged.low == pytest.approx(1.3 * math.exp(-t_quantile(0.99, 10) * se))
    # The rule, not "beyond the tolerance": a confident slowdown over half of it.
    assert judged.reason == ("slower with 99% confidence, and by more than half the tolerance (5%)")
    faster = judge_runs([1.0, 1.0, 1.0], [0.7], 0.03, 10, 0.10)
    assert faster.verdict is Verdict.IMPROVED
    assert faster.reason == "faster with 99% confidence, and by more than half the tolerance (5%)"


@pytest.mark.parametrize(
    ("p", "dof", "tabled"),
    [(0.99, 3, 4.541), (0.99, 5, 3.365), (0.95, 3, 2.353), (0.99, 30, 2.457), (0.95, 1, 6.314)],
)
def test_t_quantiles_match_the_tables(p: float, dof: int, tabled: float) -> None:
    assert t_quantile(p, dof) == pytest.approx(tabled, rel=0.01)


def test_pooled_log_sd_centres_each_group() -> None:
    # Two groups at different levels (an upgrade moved the level) with the same spread.
    one = [1.0, math.e**0.1]
    two = [5.0, 5.0 * math.e**0.1]
    sigma, dof = pooled_log_sd([one, two, [3.0]])
    assert dof == 2
    assert sigma == pytest.approx(math.sqrt(0.005))
    assert pooled_log_sd([[1.0]]) == (pytest.approx(math.nan, nan_ok=True), 0)


def test_run_estimates() -> None:
    steps = [0.010, 0.012, 0.011, 0.030]
    kernel = [0.002, 0.002, 0.004, 0.002]
    assert run_estimate(steps, None, "min") == 0.010
    assert run_estimate(steps, None, "median") == pytest.approx(0.0115)
    assert run_estimate(steps, kernel, "median") == pytest.approx(0.0115 / 0.002)
    assert run_estimate(steps, kernel, "min", per_window=True) == pytest.approx(2.75)
    with pytest.raises(ValueError, match="Expected method"):
        run_estimate(steps, None, "mean")


def _figures(estimates: tuple[float, ...], arrangement: dict[str, object]) -> Figures:
    return Figures(
        node_id=NODE,
        model="lenet5",
        dataset="mnist",
        batch_size=128,
        data_source="real",
        samples={"step_time": estimates},
        timing={
            "arrangement": arrangement,
            "runs": [
                {"windows": [[0.1, 10, 0.002]] * 20, "step_seconds": 0.01, "calibration_seconds": k}
                for k in [0.002] * len(estimates)
            ],
        },
    )


def _entry(estimates: tuple[float, ...], arrangement: dict[str, object]) -> BaselineEntry:
    return BaselineEntry(_figures(estimates, arrangement), {}, PROVENANCE)


def test_another_arrangement_is_not_judged() -> None:
    pinned = {**ARRANGEMENT, "cores": 1, "workers": 2, "pinned": True}
    result = compare(
        _figures((2.0,), pinned),
        _entry((1.0, 1.01, 0.99), ARRANGEMENT),
        Tolerances({}),
        REGISTRY,
        software_now={},
    )
    assert result.verdict is Verdict.UNSTABLE
    step = result.metric("step_time")
    assert step is not None and step.reason is not None
    assert step.reason.startswith(
        "timing not judged: the baseline was measured with 2 cores, 2 threads, 1 worker and "
        "this run with 1 core, 2 threads, 2 workers"
    )


def test_history_groups_refine_the_noise() -> None:
    result = compare(
        _figures((1.02,), ARRANGEMENT),
        _entry((1.0,), ARRANGEMENT),
        Tolerances({}),
        REGISTRY,
        software_now={},
        history={"step_time": [[1.0, 1.01, 0.99, 1.0]]},
    )
    step = result.metric("step_time")
    assert step is not None and step.noise_dof == 3
    assert result.verdict is Verdict.PASS


def _sessions_entry(estimates: tuple[float, ...], sessions: int) -> BaselineEntry:
    figures = _figures(estimates, ARRANGEMENT)
    timing = {**(figures.timing or {}), "sessions": sessions}
    return BaselineEntry(Figures(**{**figures.__dict__, "timing": timing}), {}, PROVENANCE)


def _judge(now: float, entry: BaselineEntry) -> MetricComparison:
    result = compare(
        _figures((now,), ARRANGEMENT), entry, Tolerances({}), REGISTRY, software_now={}
    )
    step = result.metric("step_time")
    assert step is not None
    return step


def test_runs_of_one_session_are_no_evidence_of_the_noise() -> None:
    step = _judge(3.0, _entry((1.0, 1.01, 0.99), ARRANGEMENT))
    assert step.verdict is Verdict.UNSTABLE and step.noise is None
    assert step.reason == (
        "too little evidence of the between-session noise (the baseline's 3 runs came from "
        "one session and the history holds no earlier session of this test; 3 separate "
        "sessions are needed, and runs of one session count as one: they agree more closely "
        "than separate sessions do); accept with --cnnperf-sessions 3 or keep a history file "
        "(--cnnperf-history), to which every run adds a session"
    )


def test_an_unstable_timing_says_that_only_more_sessions_help() -> None:
    # Noisy sessions: a 2% change is neither ruled in nor out at 10%.
    result = compare(
        _figures((1.02,), ARRANGEMENT),
        _sessions_entry((1.0, 1.2, 0.85), 3),
        Tolerances({}),
        REGISTRY,
        software_now={},
    )
    assert result.verdict is Verdict.UNSTABLE
    message = result.message("baselines/b.json", "pytest t --cnnperf-update-baselines", REGISTRY)
    assert message.splitlines()[-1] == (
        "To get a verdict, keep a history file (--cnnperf-history) or accept the baseline from "
        "more sessions (--cnnperf-sessions), run fewer tests in parallel on this machine, or "
        "widen this test's tolerance."
    )


def test_a_baseline_from_separate_sessions_gives_the_noise() -> None:
    step = _judge(3.0, _sessions_entry((1.0, 1.01, 0.99), 3))
    assert step.verdict is Verdict.REGRESSED
    assert step.noise_dof == 2 and step.noise == pytest.approx(
        pooled_log_sd([[1.0, 1.01, 0.99]])[0]
    )
    assert "between-session noise 1.0% per session, from 3 sessions or more" in step.describe()
    two = _judge(3.0, _sessions_entry((1.0, 1.01), 2))
    assert two.verdict is Verdict.UNSTABLE and two.reason is not None
    assert two.reason.startswith(
        "too little evidence of the between-session noise (the baseline's runs came from 2 "
        "sessions and the history holds no earlier session of this test;"
    )


def test_the_runs_of_each_session_make_one_estimate() -> None:
    runs = (1.0, 1.02, 1.1, 1.12, 0.9, 0.92)
    estimates = session_estimates(runs, 3)
    assert estimates == [
        pytest.approx(math.sqrt(1.0 * 1.02)),
        pytest.approx(math.sqrt(1.1 * 1.12)),
        pytest.approx(math.sqrt(0.9 * 0.92)),
    ]
    step = _judge(1.0, _sessions_entry(runs, 3))
    assert step.noise_dof == 2 and step.noise == pytest.approx(pooled_log_sd([estimates])[0])
    assert step.baseline_count == 6
    # Runs that do not split evenly, or no count, are one session.
    assert session_estimates(runs, 4) == [pytest.approx(math.prod(runs) ** (1 / 6))]
    assert len(session_estimates(runs, None)) == 1 and len(session_estimates(runs, True)) == 1


def test_a_shared_session_effect_gives_no_false_regression() -> None:
    # The noise this machine shows: each session has its own level (15% log-SD),
    # and its runs agree within it (1%). Runs taken for independent ones, the
    # rule would fail about a third of identical runs.
    rng = random.Random(4)
    trials = 1000
    as_runs = dict.fromkeys(Verdict, 0)
    one_session = dict.fromkeys(Verdict, 0)
    three_sessions = dict.fromkeys(Verdict, 0)

    def session(runs: int) -> tuple[float, ...]:
        level = rng.gauss(0, 0.15)
        return tuple(math.exp(level + rng.gauss(0, 0.01)) for _ in range(runs))

    for _ in range(trials):
        base = session(3)
        now = session(1)[0]
        as_runs[judge_runs(base, [now], *pooled_log_sd([base]), 0.10).verdict] += 1
        one_session[_judge(now, _entry(base, ARRANGEMENT)).verdict] += 1
        spread = tuple(session(1)[0] for _ in range(3))
        three_sessions[_judge(now, _sessions_entry(spread, 3)).verdict] += 1
    assert as_runs[Verdict.REGRESSED] / trials > 0.2
    assert one_session == {**dict.fromkeys(Verdict, 0), Verdict.UNSTABLE: trials}
    assert three_sessions[Verdict.REGRESSED] / trials < 0.015


def test_a_moved_kernel_says_the_machine_changed() -> None:
    current = _figures((1.0,), ARRANGEMENT)
    timing = dict(current.timing or {})
    timing["runs"] = [{"windows": [], "step_seconds": 0.01, "calibration_seconds": 0.004}]
    moved = Figures(**{**current.__dict__, "timing": timing})
    result = compare(
        moved, _entry((1.0, 1.01, 0.99), ARRANGEMENT), Tolerances({}), REGISTRY, software_now={}
    )
    assert any(
        note.startswith("The reference kernel took 2x its baseline time") for note in result.notes
    )


def test_schema_3_timing_is_superseded_and_compares_as_new() -> None:
    document = {
        "schema_version": 3,
        "entries": {
            NODE: {
                "metrics": {"epoch_seconds": {"center": 4.2, "samples": [4.2]}},
                "tolerances": {"epoch_seconds": 0.25},
            }
        },
    }
    migrated = migrate_3_to_4(document)
    entry = migrated["entries"][NODE]
    assert migrated["schema_version"] == 4
    assert entry["metrics"] == {} and entry["tolerances"] == {}
    assert entry["superseded"]["epoch_seconds"]["center"] == 4.2
    old = BaselineEntry(
        Figures(NODE, "lenet5", "mnist", 128, "real", {"accuracy": (0.98,)}), {}, PROVENANCE
    )
    result = compare(
        Figures(NODE, "lenet5", "mnist", 128, "real", {"step_time": (1.0,), "accuracy": (0.98,)}),
        old,
        Tolerances({}),
        REGISTRY,
        software_now={},
    )
    assert result.verdict is Verdict.NEW
    assert result.notes[0].startswith(
        "The baseline entry has no step_time figure: it was accepted with another timing method"
    )


def test_history_lines_round_trip_and_bad_lines_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "cache" / "history.jsonl"
    line = HistoryLine(NODE, "cpu-x-2c-float32", ARRANGEMENT, "step_time", (1.0, 1.2))
    append_history(path, [line])
    with path.open("a") as handle:
        handle.write('{"node_id": "t.py::b", "estimates": [-1]}\n{broken\n')
    append_history(path, [line])
    history = read_history(path)
    assert len(history.lines) == 2 and history.skipped == 2
    groups = history.groups(NODE, "cpu-x-2c-float32", ARRANGEMENT, "step_time")
    assert groups == [[pytest.approx(math.sqrt(1.2)), pytest.approx(math.sqrt(1.2))]]
    assert (
        history.groups(NODE, "cpu-x-2c-float32", {**ARRANGEMENT, "workers": 2}, "step_time") == []
    )
    assert read_history(tmp_path / "none.jsonl").lines == ()
    assert json.loads(path.read_text().splitlines()[0])["metric"] == "step_time"


def test_window_plan() -> None:
    from pytest_cnnperf.plan import TrainPlan
    from pytest_cnnperf.training import window_plan

    plan = TrainPlan(2, 1, 128, 1e-3, None, 1, windows=20, window_seconds=0.1)
    # 16 ms steps: 7 steps make 100 ms; 20 windows of 7 cover 2 passes of 63 steps.
    assert window_plan(plan, 63, 0.016).steps == 7
    assert window_plan(plan, 63, 0.016).count == 20
    # Fast steps: the passes need more windows than 20.
    assert window_plan(plan, 630, 0.016).count == math.ceil(2 * 630 / 7)
    # A 3 s step: fewer windows, at least 5.
    assert window_plan(plan, 4, 3.0).count == 8
    assert window_plan(plan, 4, 3.0).steps == 1


def test_builtin_step_time_declaration() -> None:
    from pytest_cnnperf.metrics import (
        ACCURACY,
        BUILTIN_METRICS,
        LAYER_SECONDS,
        STEP_TIME,
        TELEMETRY_METRICS,
    )

    # layer_seconds explains a regressed step_time (docs/layers.md); it is no verdict.
    # The GPU telemetry is recorded, never judged (docs/gpu.md).
    assert (STEP_TIME, ACCURACY, LAYER_SECONDS, *TELEMETRY_METRICS) == BUILTIN_METRICS
    assert REGISTRY.names() == (
        "step_time",
        "accuracy",
        "layer_seconds",
        "gpu_utilization",
        "gpu_memory_peak",
        "gpu_power",
        "gpu_sm_clock",
        "gpu_temperature_peak",
    )
    assert [m.name for m in REGISTRY if m.judged] == ["step_time", "accuracy", "layer_seconds"]
    assert LAYER_SECONDS.explains == "step_time"
    assert (STEP_TIME.unit, STEP_TIME.better, STEP_TIME.relative, STEP_TIME.per_run) == (
        "kernel units",
        "lower",
        True,
        True,
    )
    assert STEP_TIME.default_tolerance == 0.10
    for old in ("epoch_seconds", "epoch_time", "images_per_second"):
        assert REGISTRY.get(old) is STEP_TIME


@pytest.mark.parametrize(
    ("cores", "workers", "shares"),
    [
        ([0, 1], 1, [[0, 1]]),
        ([0, 1], 2, [[0], [1]]),
        ([0, 1, 2, 3, 4], 2, [[0, 1, 2], [3, 4]]),
        ([0, 1], 3, [[0], [1], [0]]),
    ],
)
def test_each_worker_gets_its_share_of_the_cores(
    cores: list[int], workers: int, shares: list[list[int]]
) -> None:
    from pytest_cnnperf.runtime import cores_of_worker

    assert [cores_of_worker(cores, i, workers) for i in range(workers)] == shares


def test_reference_kernel_times_itself_and_keeps_the_figures() -> None:
    from pytest_cnnperf.timing import ReferenceKernel

    kernel = ReferenceKernel(threads=2)
    assert kernel.threads == 2
    first = kernel.record()
    assert 0 < first < 1
    assert kernel.seconds == [first]
