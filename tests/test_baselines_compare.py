"""Unit tests for verdicts and their messages, metric by metric over the registry."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from legacy_metrics import LEGACY_METRICS, legacy_registry
from metric_helpers import custom_metric

from pytest_cnnperf.baselines import (
    BaselineEntry,
    Comparison,
    Figures,
    MetricComparison,
    Provenance,
    Tolerances,
    Verdict,
    compare,
    software_changes,
)
from pytest_cnnperf.metrics import MetricRegistry

NODE = "tests/test_zoo.py::test_train[lenet5-mnist]"
SOFTWARE = {"python": "3.11.7", "tensorflow": "2.20.0", "keras": "3.15.1"}
FILE = Path("baselines/cpu-xeon-2c-float32.json")
ACCEPT = f"pytest {NODE} --cnnperf-accept --cnnperf-reason='...'"
PROVENANCE = Provenance("2026-01-05T10:30:15+00:00", "ana@build-3", "first run")
REGISTRY = legacy_registry()


#: A noisy relative metric declared by a test: peak memory, lower is better.
MEMORY = custom_metric()
#: A noisy absolute metric that is not a fraction: validation loss, lower is better.
LOSS = custom_metric(
    name="val_loss", unit="nats", relative=False, description="validation loss after training"
)
CUSTOM = MetricRegistry([*LEGACY_METRICS, MEMORY, LOSS])


def _samples(
    epochs: tuple[float, ...] | None, accuracy: float | None, extra: Mapping[str, tuple[float, ...]]
) -> dict[str, tuple[float, ...]]:
    samples: dict[str, tuple[float, ...]] = {}
    if epochs is not None:
        samples["epoch_seconds"] = epochs
    if accuracy is not None:
        samples["accuracy"] = (accuracy,)
    samples.update(extra)
    return samples


def _figures(
    epochs: tuple[float, ...] | None,
    accuracy: float | None = 0.98,
    extra: Mapping[str, tuple[float, ...]] | None = None,
    **changes: Any,
) -> Figures:
    values: dict[str, Any] = {
        "node_id": NODE,
        "model": "lenet5",
        "dataset": "mnist",
        "batch_size": 128,
        "data_source": "real",
        "samples": _samples(epochs, accuracy, extra or {}),
    }
    values.update(changes)
    return Figures(**values)


def _entry(
    epochs: tuple[float, ...] | None,
    accuracy: float | None = 0.98,
    reason: str | None = "first run",
    extra: Mapping[str, tuple[float, ...]] | None = None,
) -> BaselineEntry:
    return BaselineEntry(
        figures=_figures(epochs, accuracy, extra),
        software=SOFTWARE,
        provenance=Provenance(PROVENANCE.accepted_at, PROVENANCE.accepted_by, reason),
    )


BASE = (1.00, 1.02, 0.98, 1.01, 0.99)


def _compare(
    current: Figures,
    entry: BaselineEntry | None,
    software: dict[str, str] = SOFTWARE,
    registry: MetricRegistry = REGISTRY,
    tolerances: Tolerances | None = None,
) -> Comparison:
    return compare(
        current,
        entry,
        tolerances or Tolerances.defaults(registry),
        registry,
        software_now=software,
    )


def _round_trip(comparison: Comparison, registry: MetricRegistry) -> Comparison:
    return Comparison.from_dict(json.loads(json.dumps(comparison.to_dict())), registry)


# --------------------------------------------------------------------------- built-in metrics


def test_identical_samples_pass() -> None:
    comparison = _compare(_figures(BASE), _entry(BASE))
    assert comparison.verdict is Verdict.PASS
    assert [m.metric.name for m in comparison.metrics] == ["epoch_seconds", "accuracy"]
    assert [m.verdict for m in comparison.metrics] == [Verdict.PASS] * 2
    # images_per_second follows from epoch time: shown, never judged.
    assert comparison.metric("images_per_second") is None
    epoch = comparison.metric("epoch_seconds")
    assert epoch is not None
    assert epoch.change == 1.0
    assert epoch.interval_low < 1.0 < epoch.interval_high
    assert comparison.notes == ()
    assert comparison.message(FILE, ACCEPT, REGISTRY) == (
        f"Training performance of {NODE} is within its tolerances: epoch_seconds 1x, "
        "accuracy +0.00 points."
    )


def test_small_noise_within_tolerance_passes() -> None:
    current = tuple(x * 1.08 for x in (1.01, 0.97, 1.03, 1.0, 0.99))
    assert _compare(_figures(current), _entry(BASE)).verdict is Verdict.PASS


def test_clear_slowdown_regresses() -> None:
    current = tuple(1.5 * x for x in BASE)
    comparison = _compare(_figures(current), _entry(BASE))
    assert comparison.verdict is Verdict.REGRESSED
    epoch = comparison.metric("epoch_seconds")
    assert epoch is not None
    assert epoch.verdict is Verdict.REGRESSED
    assert epoch.change == pytest.approx(1.5)
    assert 1.25 < epoch.interval_low <= epoch.interval_high
    assert epoch.current == pytest.approx(1.5)
    assert epoch.baseline == 1.0
    assert (epoch.current_count, epoch.baseline_count) == (5, 5)
    assert comparison.metric("accuracy") is not None
    assert comparison.metric("accuracy").verdict is Verdict.PASS  # type: ignore[union-attr]


def test_regression_message_has_every_number() -> None:
    # Constant samples make the interval exact, so the whole text can be checked.
    comparison = _compare(
        _figures((1.5, 1.5, 1.5)),
        _entry((1.0, 1.0, 1.0)),
        software={**SOFTWARE, "tensorflow": "2.21.0", "cuda": "12.4"},
    )
    assert comparison.message(FILE, ACCEPT, REGISTRY) == "\n".join(
        [
            f"Training performance of {NODE} regressed:",
            "  epoch_seconds: measured 1.5 s (median of 3), baseline 1 s (median of 3), "
            "1.5x the baseline (90% interval 1.5x to 1.5x); tolerance: at most 1.25x the "
            "baseline, 25% slower (lower is better)",
            f"Baseline file: {FILE}, accepted 2026-01-05T10:30:15+00:00 by ana@build-3 "
            "(first run).",
            "Software changed since acceptance: cuda not recorded -> 12.4, "
            "tensorflow 2.20.0 -> 2.21.0.",
            "If the new figures are expected, accept them as the baseline with:",
            f"  {ACCEPT}",
        ]
    )


def test_regression_message_without_software_change_or_reason() -> None:
    comparison = _compare(_figures((1.5, 1.5, 1.5)), _entry((1.0, 1.0, 1.0), reason=None))
    lines = comparison.message(FILE, ACCEPT, REGISTRY).splitlines()
    assert lines[2] == (
        f"Baseline file: {FILE}, accepted 2026-01-05T10:30:15+00:00 by ana@build-3."
    )
    assert lines[3] == "Software changed since acceptance: no software change recorded."


def test_faster_run_is_improved() -> None:
    current = tuple(0.6 * x for x in BASE)
    comparison = _compare(_figures(current), _entry(BASE))
    assert comparison.verdict is Verdict.IMPROVED
    message = comparison.message(FILE, ACCEPT, REGISTRY)
    assert message.startswith(
        f"Training performance of {NODE} improved:\n"
        "  epoch_seconds: measured 0.6 s (median of 5), baseline 1 s (median of 5), "
        "0.6x the baseline (90% interval "
    )
    assert message.endswith(
        "Software changed since acceptance: no software change recorded.\n"
        "To keep the better figures as the baseline, so that a later slowdown is measured "
        f"from them, run:\n  {ACCEPT}"
    )


def test_improved_message_in_full() -> None:
    comparison = _compare(
        _figures((0.6, 0.6, 0.6), accuracy=0.99),
        _entry((1.0, 1.0, 1.0)),
        software={**SOFTWARE, "keras": "3.16.0"},
    )
    assert comparison.verdict is Verdict.IMPROVED
    # Only the metrics that improved are listed: accuracy passed.
    assert comparison.message(FILE, ACCEPT, REGISTRY) == "\n".join(
        [
            f"Training performance of {NODE} improved:",
            "  epoch_seconds: measured 0.6 s (median of 3), baseline 1 s (median of 3), "
            "0.6x the baseline (90% interval 0.6x to 0.6x); tolerance: at most 1.25x the "
            "baseline, 25% slower (lower is better)",
            f"Baseline file: {FILE}, accepted 2026-01-05T10:30:15+00:00 by ana@build-3 "
            "(first run).",
            "Software changed since acceptance: keras 3.15.1 -> 3.16.0.",
            "To keep the better figures as the baseline, so that a later slowdown is measured "
            "from them, run:",
            f"  {ACCEPT}",
        ]
    )


def test_noisy_run_is_unstable() -> None:
    current = (0.7, 1.0, 1.45, 1.3, 0.8)
    comparison = _compare(_figures(current), _entry(BASE))
    assert comparison.verdict is Verdict.UNSTABLE
    epoch = comparison.metric("epoch_seconds")
    assert epoch is not None
    assert epoch.current_relative_spread is not None and epoch.current_relative_spread > 0.25
    message = comparison.message(FILE, ACCEPT, REGISTRY)
    lines = message.splitlines()
    assert lines[0] == (
        f"Training performance of {NODE} could not be judged: the timing noise is too large "
        "for the tolerance."
    )
    assert lines[1].startswith("  epoch_seconds: measured 1 s (median of 5), baseline 1 s")
    assert lines[1].endswith(
        "; tolerance: at most 1.25x the baseline, 25% slower (lower is better); the current "
        "samples vary by 44% (relative MAD), more than the 25% tolerance"
    )
    assert lines[2] == (
        f"Baseline file: {FILE}, accepted 2026-01-05T10:30:15+00:00 by ana@build-3 (first run)."
    )
    assert lines[-1] == (
        "To get a verdict, measure more epochs or repeats, run fewer tests in parallel on "
        "this machine, or widen this test's tolerance."
    )
    assert len(lines) == 4


def test_interval_straddling_the_bound_is_unstable() -> None:
    # A quiet run whose ratio sits right at the bound: neither pass nor regression.
    current = (1.15, 1.25, 1.3, 1.2, 1.35)
    comparison = _compare(_figures(current), _entry(BASE))
    epoch = comparison.metric("epoch_seconds")
    assert epoch is not None
    assert epoch.interval_low < 1.25 < epoch.interval_high
    assert comparison.verdict is Verdict.UNSTABLE
    assert epoch.reason == (
        "the interval straddles the tolerance bound 1.25x, so neither a pass nor a "
        "regression can be claimed"
    )


def test_single_samples_use_the_plain_ratio_and_claim_no_change() -> None:
    comparison = _compare(_figures((1.4,)), _entry((1.0,)))
    epoch = comparison.metric("epoch_seconds")
    assert epoch is not None
    # One epoch a side shows no noise: 1.4x is beyond the bound, but neither a
    # regression nor an improvement can be claimed from it.
    assert comparison.verdict is Verdict.UNSTABLE
    assert epoch.low_confidence
    assert epoch.confidence is None
    assert epoch.reason == (
        "a single measured sample on one side cannot show a change with confidence; "
        "measure more epochs or pass --cnnperf-repeats"
    )
    assert epoch.describe() == (
        "epoch_seconds: measured 1.4 s (median of 1), baseline 1 s (median of 1), 1.4x the "
        "baseline (one sample on a side: plain change, low confidence); tolerance: at most "
        "1.25x the baseline, 25% slower (lower is better); a single measured sample on one "
        "side cannot show a change with confidence; measure more epochs or pass "
        "--cnnperf-repeats"
    )
    faster = _compare(_figures((0.5,)), _entry((1.0,)))
    assert faster.verdict is Verdict.UNSTABLE
    within = _compare(_figures((1.1,)), _entry((1.0,)))
    assert within.verdict is Verdict.PASS
    assert within.metric("epoch_seconds").low_confidence  # type: ignore[union-attr]


def test_accuracy_drop_regresses_alone() -> None:
    comparison = _compare(_figures(BASE, accuracy=0.95), _entry(BASE, accuracy=0.98))
    assert comparison.verdict is Verdict.REGRESSED
    accuracy = comparison.metric("accuracy")
    assert accuracy is not None
    # Judged on its value: no interval, no spread.
    assert (accuracy.confidence, accuracy.low_confidence) == (None, False)
    assert accuracy.current_relative_spread is None
    assert accuracy.interval_low == accuracy.interval_high == accuracy.change
    lines = comparison.message(FILE, ACCEPT, REGISTRY).splitlines()
    assert lines[1] == (
        "  accuracy: measured 95.00%, baseline 98.00%, -3.00 points from the baseline; "
        "tolerance: at most 2 points below the baseline (higher is better)"
    )
    assert lines[2].startswith("Baseline file: ")


def test_small_accuracy_drop_passes_and_a_large_gain_improves() -> None:
    assert _compare(_figures(BASE, accuracy=0.97), _entry(BASE)).verdict is Verdict.PASS
    gain = _compare(_figures(BASE, accuracy=0.95), _entry(BASE, accuracy=0.90))
    assert gain.verdict is Verdict.IMPROVED
    assert gain.metric("accuracy").verdict is Verdict.IMPROVED  # type: ignore[union-attr]


def test_accuracy_of_several_runs_is_judged_on_the_median() -> None:
    current = _figures(BASE, accuracy=None, extra={"accuracy": (0.90, 0.97, 0.975)})
    comparison = _compare(current, _entry(BASE, accuracy=0.98))
    accuracy = comparison.metric("accuracy")
    assert accuracy is not None
    assert accuracy.current == 0.97
    assert accuracy.current_count == 3
    assert accuracy.verdict is Verdict.PASS


def test_missing_accuracy_is_noted_not_compared() -> None:
    comparison = _compare(_figures(BASE, accuracy=None), _entry(BASE, accuracy=0.98))
    assert comparison.verdict is Verdict.PASS
    assert comparison.metric("accuracy") is None
    assert comparison.notes == ("accuracy was not compared: this run has no accuracy figure.",)


def test_accuracy_missing_from_the_baseline_is_noted() -> None:
    comparison = _compare(_figures(BASE), _entry(BASE, accuracy=None))
    assert comparison.verdict is Verdict.PASS
    assert comparison.notes == ("accuracy was not compared: the baseline has no accuracy figure.",)


def test_regression_beats_improvement() -> None:
    comparison = _compare(
        _figures(tuple(0.5 * x for x in BASE), accuracy=0.90), _entry(BASE, accuracy=0.98)
    )
    assert comparison.verdict is Verdict.REGRESSED
    message = comparison.message(FILE, ACCEPT, REGISTRY)
    assert message.count("\n  accuracy:") == 1
    assert "epoch_seconds" not in message


def test_no_baseline_is_new() -> None:
    comparison = _compare(_figures((1.0, 1.2, 1.1)), None)
    assert comparison.verdict is Verdict.NEW
    assert comparison.metrics == ()
    assert comparison.baseline is None
    assert comparison.current == {"epoch_seconds": 1.1, "accuracy": 0.98}
    assert comparison.message(FILE, ACCEPT, REGISTRY) == (
        f"No baseline for {NODE} on this hardware in {FILE} (measured epoch_seconds 1.1 s, "
        f"accuracy 98.00%).\nTo record these figures as its baseline, run:\n  {ACCEPT}"
    )


def test_new_message_without_figures() -> None:
    comparison = _compare(_figures(None, accuracy=None), None)
    assert comparison.message(FILE, ACCEPT, REGISTRY).splitlines()[0] == (
        f"No baseline for {NODE} on this hardware in {FILE} (measured no figures)."
    )


@pytest.mark.parametrize(
    ("changes", "note"),
    [
        (
            {"batch_size": 256},
            "The baseline entry was accepted with batch_size=128 but this run used "
            "batch_size=256, so their figures are not comparable.",
        ),
        (
            {"model": "resnet18"},
            "The baseline entry was accepted with model='lenet5' but this run used "
            "model='resnet18', so their figures are not comparable.",
        ),
        (
            {"dataset": "cifar10"},
            "The baseline entry was accepted with dataset='mnist' but this run used "
            "dataset='cifar10', so their figures are not comparable.",
        ),
        (
            {"data_source": "synthetic"},
            "The baseline entry was accepted with data_source='real' but this run used "
            "data_source='synthetic', so their figures are not comparable.",
        ),
    ],
)
def test_changed_setup_is_new_with_a_note(changes: dict[str, Any], note: str) -> None:
    comparison = _compare(
        _figures(BASE, accuracy=None, **changes),
        _entry(BASE),
        software={**SOFTWARE, "tensorflow": "2.21.0"},
    )
    assert comparison.verdict is Verdict.NEW
    assert comparison.metrics == ()
    assert comparison.notes == (note,)
    assert comparison.baseline == PROVENANCE
    assert comparison.software_changes == ("tensorflow 2.20.0 -> 2.21.0",)
    assert comparison.message(FILE, ACCEPT, REGISTRY) == "\n".join(
        [
            f"No comparable baseline for {NODE} in {FILE} (measured epoch_seconds 1 s).",
            note,
            "To record these figures as its baseline, run:",
            f"  {ACCEPT}",
        ]
    )


def test_every_setup_difference_is_a_note() -> None:
    comparison = _compare(_figures(BASE, batch_size=64, model="vgg11"), _entry(BASE))
    assert [note.split(" but ")[0] for note in comparison.notes] == [
        "The baseline entry was accepted with model='lenet5'",
        "The baseline entry was accepted with batch_size=128",
    ]


def test_same_inputs_give_the_same_verdict_and_interval() -> None:
    current = _figures((1.1, 1.3, 1.2, 1.25))
    first = _compare(current, _entry(BASE))
    again = _compare(current, _entry(BASE))
    assert first == again


def test_software_changes() -> None:
    assert software_changes(
        {"tensorflow": "2.20.0", "driver": "550.54", "python": "3.11.7"},
        {"tensorflow": "2.21.0", "cuda": "12.4", "python": "3.11.7"},
    ) == (
        "cuda not recorded -> 12.4",
        "driver 550.54 -> not recorded",
        "tensorflow 2.20.0 -> 2.21.0",
    )
    assert software_changes(SOFTWARE, dict(SOFTWARE)) == ()


def test_tolerances_in_force_are_used() -> None:
    current, entry = _figures((1.5, 1.5, 1.5)), _entry((1.0, 1.0, 1.0))
    wide = Tolerances({"epoch_seconds": 0.6, "accuracy": 0.02})
    comparison = _compare(current, entry, tolerances=wide)
    assert comparison.verdict is Verdict.PASS
    assert comparison.metric("epoch_seconds").rule.limit == 0.6  # type: ignore[union-attr]


# --------------------------------------------------------------------------- custom metrics


def test_custom_relative_metric_is_compared() -> None:
    current = _figures(BASE, extra={"peak_memory": (130.0, 130.0, 130.0)})
    entry = _entry(BASE, extra={"peak_memory": (100.0, 100.0, 100.0)})
    comparison = _compare(current, entry, registry=CUSTOM)
    assert [m.metric.name for m in comparison.metrics] == [
        "epoch_seconds",
        "accuracy",
        "peak_memory",
    ]
    assert comparison.verdict is Verdict.REGRESSED
    memory = comparison.metric("peak_memory")
    assert memory is not None
    assert memory.rule.limit == 0.1
    assert memory.change == pytest.approx(1.3)
    lines = comparison.message(FILE, ACCEPT, CUSTOM).splitlines()
    assert lines[1] == (
        "  peak_memory: measured 130 MB (median of 3), baseline 100 MB (median of 3), 1.3x "
        "the baseline (90% interval 1.3x to 1.3x); tolerance: at most 1.1x the baseline, "
        "10% worse (lower is better)"
    )
    assert len(lines) == 6


def test_noisy_custom_relative_metric_is_unstable() -> None:
    current = _figures(BASE, extra={"peak_memory": (70.0, 100.0, 145.0, 130.0, 80.0)})
    entry = _entry(BASE, extra={"peak_memory": (100.0, 102.0, 98.0, 101.0, 99.0)})
    comparison = _compare(current, entry, registry=CUSTOM)
    memory = comparison.metric("peak_memory")
    assert memory is not None
    assert memory.verdict is Verdict.UNSTABLE
    assert memory.reason == (
        "the current samples vary by 44% (relative MAD), more than the 10% tolerance"
    )
    assert comparison.verdict is Verdict.UNSTABLE


def test_custom_absolute_metric_is_compared_as_a_difference() -> None:
    current = _figures(BASE, extra={"val_loss": (0.7, 0.7, 0.7)})
    entry = _entry(BASE, extra={"val_loss": (0.5, 0.5, 0.5)})
    comparison = _compare(current, entry, registry=CUSTOM)
    loss = comparison.metric("val_loss")
    assert loss is not None
    assert loss.verdict is Verdict.REGRESSED
    assert loss.change == pytest.approx(0.2)
    assert loss.describe() == (
        "val_loss: measured 0.7 nats (median of 3), baseline 0.5 nats (median of 3), "
        "+0.2 nats from the baseline (90% interval +0.2 nats to +0.2 nats); tolerance: at "
        "most 0.1 nats above the baseline (lower is better)"
    )
    assert loss.to_dict()["change_kind"] == "difference"
    assert loss.to_dict()["worse_bound"] == 0.1
    better = _compare(
        _figures(BASE, extra={"val_loss": (0.3, 0.3, 0.3)}), entry, registry=CUSTOM
    ).metric("val_loss")
    assert better is not None and better.verdict is Verdict.IMPROVED
    within = _compare(
        _figures(BASE, extra={"val_loss": (0.55, 0.56, 0.54)}), entry, registry=CUSTOM
    ).metric("val_loss")
    assert within is not None and within.verdict is Verdict.PASS


def test_absolute_metric_with_a_single_sample_is_low_confidence() -> None:
    current = _figures(BASE, extra={"val_loss": (0.9,)})
    entry = _entry(BASE, extra={"val_loss": (0.5, 0.5, 0.5)})
    loss = _compare(current, entry, registry=CUSTOM).metric("val_loss")
    assert loss is not None
    assert loss.verdict is Verdict.UNSTABLE
    assert loss.low_confidence
    assert loss.describe().startswith(
        "val_loss: measured 0.9 nats (median of 1), baseline 0.5 nats (median of 3), "
        "+0.4 nats from the baseline (one sample on a side: plain change, low confidence)"
    )


@pytest.mark.parametrize(
    ("current_extra", "entry_extra", "note"),
    [
        (
            {"peak_memory": (100.0, 100.0)},
            {},
            "peak_memory was not compared: the baseline has no peak_memory figure.",
        ),
        (
            {},
            {"val_loss": (0.5,)},
            "val_loss was not compared: this run has no val_loss figure.",
        ),
    ],
)
def test_metric_on_one_side_only_is_noted(
    current_extra: dict[str, tuple[float, ...]],
    entry_extra: dict[str, tuple[float, ...]],
    note: str,
) -> None:
    comparison = _compare(
        _figures(BASE, extra=current_extra), _entry(BASE, extra=entry_extra), registry=CUSTOM
    )
    assert comparison.verdict is Verdict.PASS
    assert comparison.notes == (note,)
    assert [m.metric.name for m in comparison.metrics] == ["epoch_seconds", "accuracy"]


def test_unregistered_metrics_are_not_compared() -> None:
    current = _figures(BASE, extra={"peak_memory": (130.0, 130.0)})
    entry = _entry(BASE, extra={"peak_memory": (100.0, 100.0)})
    comparison = _compare(current, entry)
    assert [m.metric.name for m in comparison.metrics] == ["epoch_seconds", "accuracy"]
    assert comparison.notes == ()
    assert comparison.verdict is Verdict.PASS


# --------------------------------------------------------------------------- severity


@pytest.mark.parametrize(
    ("epochs", "accuracy", "memory", "verdict"),
    [
        # epoch single sample beyond the bound: unstable; memory 0.8x: improved.
        ((1.4,), 0.98, 80.0, Verdict.UNSTABLE),
        # ... and accuracy 8 points down: regressed beats both.
        ((1.4,), 0.90, 80.0, Verdict.REGRESSED),
        # memory regressed, epoch improved.
        ((0.5, 0.5, 0.5), 0.98, 130.0, Verdict.REGRESSED),
        # improved beats pass.
        ((1.0, 1.0, 1.0), 0.98, 80.0, Verdict.IMPROVED),
        ((1.0, 1.0, 1.0), 0.98, 100.0, Verdict.PASS),
    ],
)
def test_verdict_is_the_worst_metric(
    epochs: tuple[float, ...], accuracy: float, memory: float, verdict: Verdict
) -> None:
    base_epochs = (1.0,) if len(epochs) == 1 else (1.0, 1.0, 1.0)
    comparison = _compare(
        _figures(epochs, accuracy=accuracy, extra={"peak_memory": (memory, memory, memory)}),
        _entry(base_epochs, extra={"peak_memory": (100.0, 100.0, 100.0)}),
        registry=CUSTOM,
    )
    assert comparison.verdict is verdict


def test_unstable_message_lists_only_unstable_metrics() -> None:
    comparison = _compare(
        _figures((1.4,), extra={"peak_memory": (80.0, 80.0, 80.0)}),
        _entry((1.0,), extra={"peak_memory": (100.0, 100.0, 100.0)}),
        registry=CUSTOM,
    )
    assert comparison.verdict is Verdict.UNSTABLE
    message = comparison.message(FILE, ACCEPT, CUSTOM)
    assert "\n  epoch_seconds: " in message
    assert "peak_memory" not in message


# --------------------------------------------------------------------------- plain data


def test_to_dict_is_json_ready() -> None:
    comparison = _compare(
        _figures((1.5, 1.5, 1.5)),
        _entry((1.0, 1.0, 1.0)),
        software={**SOFTWARE, "tensorflow": "2.21.0"},
    )
    data = json.loads(json.dumps(comparison.to_dict()))
    assert data["node_id"] == NODE
    assert data["verdict"] == "regressed"
    assert data["software_changes"] == ["tensorflow 2.20.0 -> 2.21.0"]
    assert data["notes"] == []
    assert data["baseline"] == {
        "accepted_at": "2026-01-05T10:30:15+00:00",
        "accepted_by": "ana@build-3",
        "reason": "first run",
    }
    assert data["current"] == {"epoch_seconds": 1.5, "accuracy": 0.98}
    assert list(data["metrics"]) == ["epoch_seconds", "accuracy"]
    assert data["metrics"]["epoch_seconds"] == {
        "metric": "epoch_seconds",
        "verdict": "regressed",
        "baseline": 1.0,
        "current": 1.5,
        "change": 1.5,
        "change_kind": "ratio",
        "interval_low": 1.5,
        "interval_high": 1.5,
        "confidence": 0.9,
        "low_confidence": False,
        "baseline_count": 3,
        "current_count": 3,
        "current_relative_spread": 0.0,
        "tolerance": 0.25,
        "worse_bound": 1.25,
        "better": "lower",
        "reason": None,
        "noise": None,
        "noise_dof": None,
        "detail": None,
        "confirmation": None,
    }
    assert data["metrics"]["accuracy"]["change_kind"] == "difference"
    assert data["metrics"]["accuracy"]["verdict"] == "pass"
    assert data["metrics"]["accuracy"]["worse_bound"] == -0.02
    assert data["metrics"]["accuracy"]["better"] == "higher"


def test_new_comparison_to_dict() -> None:
    data = _compare(_figures((1.0, 1.2, 1.1)), None).to_dict()
    assert data == {
        "node_id": NODE,
        "verdict": "new",
        "metrics": {},
        "software_changes": [],
        "notes": [],
        "current": {"epoch_seconds": 1.1, "accuracy": 0.98},
        "baseline": None,
        "parts": {},
        "named_parts": [],
        "disturbances": [],
    }


@pytest.mark.parametrize(
    ("case", "verdict"),
    [
        ("regressed", Verdict.REGRESSED),
        ("unstable", Verdict.UNSTABLE),
        ("improved", Verdict.IMPROVED),
        ("pass", Verdict.PASS),
        ("new", Verdict.NEW),
        ("new with notes", Verdict.NEW),
        ("one side", Verdict.PASS),
    ],
)
def test_comparison_round_trips_through_plain_data(case: str, verdict: Verdict) -> None:
    memory = {"peak_memory": (100.0, 101.0, 99.0)}
    loss = {"val_loss": (0.5, 0.52, 0.49)}
    software = {**SOFTWARE, "tensorflow": "2.21.0"}
    current, entry = {
        "regressed": (
            _figures(tuple(1.5 * x for x in BASE), extra={**memory, **loss}),
            _entry(BASE, extra={"peak_memory": (90.0, 91.0, 89.0), **loss}),
        ),
        "unstable": (_figures((1.4,), extra=loss), _entry((1.0,), extra=loss)),
        "improved": (_figures(tuple(0.6 * x for x in BASE)), _entry(BASE, reason=None)),
        "pass": (_figures(BASE, extra=memory), _entry(BASE, extra=memory)),
        "new": (_figures(BASE, extra=memory), None),
        "new with notes": (_figures(BASE, batch_size=32), _entry(BASE)),
        "one side": (_figures(BASE, accuracy=None, extra=memory), _entry(BASE, extra=loss)),
    }[case]
    comparison = _compare(current, entry, software=software, registry=CUSTOM)
    assert comparison.verdict is verdict
    again = _round_trip(comparison, CUSTOM)
    assert again == comparison
    assert again.to_dict() == comparison.to_dict()
    assert again.message(FILE, ACCEPT, CUSTOM) == comparison.message(FILE, ACCEPT, CUSTOM)


def test_metric_comparison_round_trips() -> None:
    comparison = _compare(
        _figures(BASE, accuracy=0.9, extra={"val_loss": (0.7, 0.72, 0.69)}),
        _entry(BASE, extra={"val_loss": (0.5, 0.52, 0.49)}),
        registry=CUSTOM,
    )
    assert len(comparison.metrics) == 3
    for metric in comparison.metrics:
        data = json.loads(json.dumps(metric.to_dict()))
        assert MetricComparison.from_dict(data, CUSTOM) == metric


def test_metric_comparison_from_dict_needs_a_registered_metric() -> None:
    comparison = _compare(
        _figures(BASE, extra={"val_loss": (0.7,)}),
        _entry(BASE, extra={"val_loss": (0.5,)}),
        registry=CUSTOM,
    )
    data = comparison.to_dict()
    with pytest.raises(ValueError) as info:
        Comparison.from_dict(data, REGISTRY)
    assert str(info.value) == "expected a registered metric, got 'val_loss'"


def test_from_dict_reads_aliases_of_a_metric() -> None:
    comparison = _compare(_figures(BASE), _entry(BASE))
    data = comparison.to_dict()
    data["metrics"]["epoch_seconds"]["metric"] = "epoch_time"
    again = Comparison.from_dict(data, REGISTRY)
    assert again.metric("epoch_seconds") == comparison.metric("epoch_seconds")


def test_nothing_in_common_is_new_instead_of_an_empty_pass() -> None:
    comparison = _compare(_figures(None, accuracy=0.98), _entry(BASE, accuracy=None))
    assert comparison.verdict is Verdict.NEW and comparison.metrics == ()
    assert comparison.message("b.json", "pytest x", REGISTRY) == (
        f"No comparable baseline for {NODE} in b.json (measured accuracy 98.00%).\n"
        "epoch_seconds was not compared: this run has no epoch_seconds figure.\n"
        "accuracy was not compared: the baseline has no accuracy figure.\n"
        "To record these figures as its baseline, run:\n"
        "  pytest x"
    )


def test_tolerance_bound_and_percentage_agree_in_the_description() -> None:
    rule = Tolerances({"epoch_seconds": 0.075}).rule(REGISTRY.get("epoch_seconds"))  # type: ignore[arg-type]
    assert rule.describe() == ("at most 1.075x the baseline, 7.5% slower (lower is better)")
