"""Unit tests of the per-layer figures: profiles, the window's budget, the layer comparison."""

from __future__ import annotations

import dataclasses

import pytest

from pytest_cnnperf import layers
from pytest_cnnperf.baselines.compare import compare
from pytest_cnnperf.baselines.model import Figures, Provenance, Verdict
from pytest_cnnperf.baselines.store import BaselineEntry
from pytest_cnnperf.baselines.tolerances import Tolerances
from pytest_cnnperf.layerprofile import (
    BETWEEN_OPS,
    LAUNCH,
    CategoryTiming,
    LayerProfile,
    LayerTiming,
    coverage_line,
)
from pytest_cnnperf.metrics import LAYER_SECONDS, MetricRegistry
from pytest_cnnperf.outcome import TestOutcome
from pytest_cnnperf.results import EpochResult, TrainResult, WindowResult

MS = 1e-3


def layer(name: str, forward_ms: float, backward_ms: float = 0.0, **kwargs: object) -> LayerTiming:
    steps = 3
    return LayerTiming(
        name=name,
        kind=str(kwargs.get("kind", "Conv2D")),
        output_shape="(None, 8, 8, 4)",
        params=int(kwargs.get("params", 10)),  # type: ignore[call-overload]
        forward_seconds=(forward_ms * MS,) * steps,
        backward_seconds=(backward_ms * MS,) * steps,
        optimizer_seconds=(0.1 * MS,) * steps,
        forward_flops=kwargs.get("flops"),  # type: ignore[arg-type]
    )


def profile(*timings: LayerTiming, step_ms: float = 10.0) -> LayerProfile:
    steps = len(timings[0].forward_seconds)
    return LayerProfile(
        step_seconds=(step_ms * MS,) * steps,
        layers=timings,
        categories=(
            CategoryTiming("input pipeline", (0.5 * MS,) * steps, True),
            CategoryTiming("other ops", (0.2 * MS,) * steps, False),
            CategoryTiming(LAUNCH, (0.4 * MS,) * steps, False),
            CategoryTiming(BETWEEN_OPS, (0.6 * MS,) * steps, False),
        ),
        unprofiled_step_seconds=9.5 * MS,
        warmup_steps=1,
        reference_steps=2,
        peak_flops_per_second=100e9,
        peak_source="a measured peak",
    )


def test_coverage_is_the_covered_share_of_each_step() -> None:
    figures = profile(layer("conv", 4, 3, flops=1e8), layer("dense", 1, 0.5))
    # layers 4+3+0.1 + 1+0.5+0.1 = 8.7 ms, input pipeline 0.5: 9.2 of 10 ms.
    assert figures.coverage == pytest.approx(0.92)
    assert figures.overhead == pytest.approx(10 / 9.5 - 1)
    assert figures.training_flops == pytest.approx(3e8)
    assert figures.utilization == pytest.approx(3e8 / 0.010 / 100e9)
    assert figures.layers[0].flops_per_second == pytest.approx(3e8 / 0.007)


def test_the_plain_data_round_trip_keeps_every_figure() -> None:
    figures = profile(layer("conv", 4, 3, flops=1e8), layer("dense", 1, 0.5))
    assert LayerProfile.from_dict(figures.to_dict()) == figures
    skipped = LayerProfile.skipped("why")
    assert LayerProfile.from_dict(skipped.to_dict()) == skipped and not skipped.profiled


def test_a_deep_network_folds_its_small_layers_after_the_slowest() -> None:
    timings = [layer(f"l{i}", forward_ms=0.1 * (i + 1)) for i in range(20)]
    rows = profile(*timings, step_ms=100).rows()
    assert [row.name for row in rows] == [*(f"l{i}" for i in range(10, 20)), "10 more layers"]
    folded = rows[-1]
    assert folded.folded == 10 and folded.params == 100
    assert folded.forward_seconds == pytest.approx(sum(0.1 * (i + 1) for i in range(10)) * MS)


def test_a_short_network_is_not_folded() -> None:
    rows = profile(layer("a", 1), layer("b", 2)).rows()
    assert [row.name for row in rows] == ["a", "b"]
    assert rows[1].share == pytest.approx(2.1 / 10)


def test_the_coverage_line_says_what_is_covered_and_what_it_cost() -> None:
    text = coverage_line(profile(layer("conv", 4, 3, flops=1e8), layer("dense", 1, 0.5)))
    assert text == (
        "Coverage 92.0% of the step (median of 3 profiled steps of 10 ms, after 3 unprofiled "
        "steps); not covered: launch 4.0%, between ops 6.0%, other ops 2.0%. The median "
        "profiled step is 5% slower than 2 unprofiled steps run the same way (9.5 ms). "
        "0.3 GFLOP per step, 30 GFLOP/s: 30% of 100 GFLOP/s (a measured peak)."
    )
    assert coverage_line(LayerProfile.skipped("Skipped, because.")) == "Skipped, because."


# --------------------------------------------------------------------------- the budget


def test_the_window_fits_its_budget() -> None:
    # 8% of a 10 s run is 0.8 s: 80 steps of 10 ms, capped at 20 profiled.
    size = layers.window_size(forced_steps=None, run_seconds=10, step_seconds=0.01)
    assert size == layers.WindowSize(warmup=1, reference=3, profiled=20)
    # 3 steps of 0.25 s: no warm-up, all profiled.
    assert layers.window_size(forced_steps=None, run_seconds=10, step_seconds=0.25) == (
        layers.WindowSize(0, 0, 3)
    )
    # 7 steps: one warm-up, one reference, four profiled.
    assert layers.window_size(forced_steps=None, run_seconds=10, step_seconds=0.11) == (
        layers.WindowSize(1, 1, 4)
    )


def test_a_step_too_long_for_the_budget_is_skipped_with_the_way_to_force_it() -> None:
    reason = layers.window_size(forced_steps=None, run_seconds=10, step_seconds=2)
    assert reason == (
        "Per-layer timing skipped: one training step (2 s) would add more than 8% to this run "
        "(10 s). Set layer_steps=N on the test (@pytest.mark.cnnperf(layer_steps=3)) to "
        "profile N steps anyway."
    )
    forced = layers.window_size(forced_steps=3, run_seconds=10, step_seconds=2)
    assert forced == layers.WindowSize(warmup=1, reference=1, profiled=3)


# --------------------------------------------------------------------------- the metric


def run_with(profile_: LayerProfile | None) -> TrainResult:
    epochs = tuple(EpochResult(i, 1.0, 10, 100, 0.5, {}, i == 1) for i in (1, 2, 3))
    return TrainResult("net", "mnist", "real", 10, 32, epochs, None, 0, "cpu", layers=profile_)


def test_layer_seconds_are_one_series_per_layer_stored_by_part_name() -> None:
    registry = MetricRegistry()
    outcome = TestOutcome("t").with_run(run_with(profile(layer("conv", 4), layer("flat", 0))))
    samples = outcome.samples(registry)
    assert samples["layer_seconds/conv"] == pytest.approx((4.1e-3,) * 3)
    # A layer with no time is floored, so that a slower run still has a ratio.
    assert samples["layer_seconds/flat"] == pytest.approx((1e-4,) * 3)
    part = registry.get("layer_seconds/conv")
    assert part is not None and part.name == "layer_seconds/conv" and part.part == "conv"
    assert part.family == "layer_seconds" and part.default_tolerance == 0.25
    assert registry.get("step_time/conv") is None
    assert registry.get("epoch_seconds/conv") is None


def test_an_outcome_with_a_layer_profile_survives_the_xdist_boundary() -> None:
    registry = MetricRegistry()
    outcome = TestOutcome("t").with_run(run_with(profile(layer("conv", 4, 1, flops=1e6))))
    again = TestOutcome.from_dict(outcome.to_dict(), registry)
    assert again == outcome


def test_an_outcome_with_windows_and_a_layer_profile_survives_the_xdist_boundary() -> None:
    registry = MetricRegistry()
    run_ = dataclasses.replace(
        run_with(profile(layer("conv", 4))),
        windows=(
            WindowResult(1, 0.2, 10, 320, 0.5, 0.01),
            WindowResult(2, 0.21, 10, 320, 0.4, None),
        ),
        arrangement={"cores": 2, "threads": 2, "workers": 1, "pinned": False},
    )
    outcome = TestOutcome("t").with_run(run_)
    again = TestOutcome.from_dict(outcome.to_dict(), registry)
    assert again == outcome and again.runs[0].windows == run_.windows


def figures(epoch_s: float, layer_ms: dict[str, float], steps: int = 6) -> Figures:
    # step_time: one estimate per session, three sessions (a noise to judge by).
    samples = {"step_time": tuple(epoch_s * (1 + 0.01 * i) for i in range(3))}
    for name, ms in layer_ms.items():
        samples[f"layer_seconds/{name}"] = tuple(ms * MS * (1 + 0.01 * i) for i in range(steps))
    return Figures("t", "net", "mnist", 32, "real", samples, timing={"sessions": 3})


def entry(before: Figures) -> BaselineEntry:
    return BaselineEntry(before, {}, Provenance("2026-01-01T00:00:00+00:00", "ana@ci", None))


def test_a_regression_names_the_layers_that_grew_materially() -> None:
    registry = MetricRegistry()
    before = figures(1.0, {"conv": 5, "bn": 1, "tiny": 0.01, "dense": 2})
    # conv slowed down, bn grew a little beside it, tiny doubled but is tiny.
    now = figures(2.0, {"conv": 40, "bn": 1.5, "tiny": 0.02, "dense": 2})
    comparison = compare(
        now, entry(before), Tolerances.defaults(registry), registry, software_now={}
    )
    assert comparison.verdict is Verdict.REGRESSED
    assert [p.metric.part for p in comparison.named_parts()] == ["conv"]
    message = comparison.message("b.json", "pytest t --cnnperf-update-baselines", registry)
    assert (
        "Layers whose time grew beyond the tolerance (layer_seconds, 6 and 6 profiled steps):\n"
        "  conv: 5.12 ms -> 41 ms per step, 8x (90% interval 7.81x to 8.2x)\n" in message
    )
    # Layer figures never change the verdict or the metric lines.
    assert [m.metric.name for m in comparison.metrics] == ["step_time"]


def test_layers_are_not_compared_when_the_test_did_not_regress() -> None:
    registry = MetricRegistry()
    before = figures(1.0, {"conv": 5})
    now = figures(1.0, {"conv": 40})
    comparison = compare(
        now, entry(before), Tolerances.defaults(registry), registry, software_now={}
    )
    assert comparison.verdict is Verdict.PASS and comparison.parts == ()


def test_a_regression_outside_the_layers_names_none() -> None:
    registry = MetricRegistry()
    before = figures(1.0, {"conv": 5, "dense": 2})
    now = figures(2.0, {"conv": 5.05, "dense": 2.02})
    comparison = compare(
        now, entry(before), Tolerances.defaults(registry), registry, software_now={}
    )
    assert comparison.named_parts() == []
    message = comparison.message("b.json", "accept", registry)
    assert (
        "No layer's time grew beyond the tolerance by a material amount (layer_seconds, 6 and 6 "
        "profiled steps: the slowdown is spread thin or lies outside the layers); the largest "
        "changes:" in message
    )


def test_a_baseline_without_layer_figures_says_so() -> None:
    registry = MetricRegistry()
    comparison = compare(
        figures(2.0, {"conv": 5}),
        entry(figures(1.0, {})),
        Tolerances.defaults(registry),
        registry,
        software_now={},
    )
    assert comparison.notes == (
        "layer_seconds was not compared: the baseline has no per-part figures (per-layer "
        "timing was off or skipped when it was measured).",
    )


def test_the_layer_comparison_round_trips() -> None:
    registry = MetricRegistry()
    comparison = compare(
        figures(2.0, {"conv": 40}),
        entry(figures(1.0, {"conv": 5})),
        Tolerances.defaults(registry),
        registry,
        software_now={},
    )
    data = comparison.to_dict()
    assert data["named_parts"] == ["layer_seconds/conv"]
    assert type(comparison).from_dict(data, registry) == comparison


def test_the_metric_is_declared_once_in_the_builtin_registry() -> None:
    registry = MetricRegistry()
    assert "layer_seconds" in registry.names()
    assert LAYER_SECONDS.explains == "step_time" and LAYER_SECONDS.column is None


def test_a_layer_that_ran_no_op_at_baseline_has_no_ratio_in_the_message() -> None:
    registry = MetricRegistry()
    before = figures(1.0, {"conv": 5, "busy": 0.0001})
    now = figures(2.0, {"conv": 5, "busy": 30})
    comparison = compare(
        now, entry(before), Tolerances.defaults(registry), registry, software_now={}
    )
    message = comparison.message("b.json", "accept", registry)
    assert "\n  busy: no measurable time -> 30.8 ms per step\n" in message


def test_a_narrow_terminal_gets_a_table_without_type_and_rates() -> None:
    from pytest_cnnperf.report import compact_shape, render_summary

    outcome = TestOutcome("t.py::test_x").with_run(
        run_with(profile(layer("stage1_block1_1_conv", 4, 3, flops=1e8), layer("head", 1)))
    )
    narrow = render_summary([outcome], MetricRegistry(), color=False, width=80, epoch_tables=True)
    wide = render_summary([outcome], MetricRegistry(), color=False, width=160, epoch_tables=True)
    assert "t.py::test_x: time per layer" in narrow and "GFLOP/s" not in narrow.split("Coverage")[0]
    assert "  stage1_block1_1_conv " in narrow  # never folded
    assert "between ops (not covered)" in narrow
    header = next(line for line in wide.splitlines() if "fwd ms" in line)
    assert header.split() == [
        "layer",
        "type",
        "output",
        "params",
        "fwd",
        "ms",
        "bwd",
        "ms",
        "opt",
        "ms",
        "share",
        "GFLOP/s",
    ]
    assert compact_shape("(None, 32, 32, 16)") == "32x32x16" and compact_shape("-") == "-"


def test_a_cpu_peak_is_measured_once_per_backend_and_dtype(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(layers, "_CPU_PEAKS", {})
    calls: list[str] = []
    rate = layers.measured_peak("jax", "float32", lambda: calls.append("jax"))
    assert calls == ["jax"] * (1 + layers.PEAK_REPEATS)  # one untimed, then the timed ones
    assert rate > 0
    assert layers.measured_peak("jax", "float32", lambda: calls.append("again")) == rate
    layers.measured_peak("torch", "float32", lambda: calls.append("torch"))
    assert calls.count("again") == 0
    assert calls.count("torch") == 1 + layers.PEAK_REPEATS
    assert layers.cpu_peak_source("float32") == (
        "best float32 1024x1024 matrix product measured on this CPU"
    )
