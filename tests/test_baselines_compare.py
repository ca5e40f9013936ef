"""Unit tests for verdicts and their messages."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pytest_cnnperf.baselines import (
    BaselineEntry,
    Comparison,
    Measurement,
    SampleSummary,
    Tolerances,
    Verdict,
    compare,
    count_verdicts,
    failed,
    software_changes,
)

NODE = "tests/test_zoo.py::test_train[lenet5-mnist]"
IMAGES = 6000.0
SOFTWARE = {"python": "3.11.7", "tensorflow": "2.20.0", "keras": "3.15.1"}
FILE = Path("baselines/cpu-xeon-2c-float32.json")
ACCEPT = f"pytest {NODE} --cnnperf-accept --cnnperf-reason='...'"


def _measurement(
    epochs: tuple[float, ...], accuracy: float | None = 0.98, **changes: Any
) -> Measurement:
    values: dict[str, Any] = {
        "node_id": NODE,
        "model": "lenet5",
        "dataset": "mnist",
        "batch_size": 128,
        "epoch_seconds": epochs,
        "images_per_second": tuple(IMAGES / x for x in epochs),
        "accuracy": accuracy,
        "data_source": "real",
    }
    values.update(changes)
    return Measurement(**values)


def _entry(
    epochs: tuple[float, ...], accuracy: float | None = 0.98, reason: str | None = "first run"
) -> BaselineEntry:
    return BaselineEntry(
        node_id=NODE,
        model="lenet5",
        dataset="mnist",
        batch_size=128,
        data_source="real",
        epoch_seconds=SampleSummary.of(epochs),
        images_per_second=SampleSummary.of([IMAGES / x for x in epochs]),
        accuracy=accuracy,
        tolerances=Tolerances(),
        software=SOFTWARE,
        accepted_at="2026-01-05T10:30:15+00:00",
        accepted_by="ana@build-3",
        reason=reason,
    )


BASE = (1.00, 1.02, 0.98, 1.01, 0.99)


def _compare(
    current: Measurement, entry: BaselineEntry | None, software: dict[str, str] = SOFTWARE
) -> Comparison:
    return compare(current, entry, Tolerances(), software_now=software)


def test_identical_samples_pass() -> None:
    comparison = _compare(_measurement(BASE), _entry(BASE))
    assert comparison.verdict is Verdict.PASS
    assert [m.verdict for m in comparison.metrics] == [Verdict.PASS] * 3
    epoch = comparison.metric("epoch_seconds")
    assert epoch is not None
    assert epoch.change == 1.0
    assert epoch.interval_low < 1.0 < epoch.interval_high
    assert epoch.violation() is None
    assert comparison.message(FILE, ACCEPT) == (
        f"Training performance of {NODE} is within its tolerances: epoch_seconds 1x, "
        "images_per_second 1x, accuracy +0.00 points."
    )


def test_small_noise_within_tolerance_passes() -> None:
    current = tuple(x * 1.08 for x in (1.01, 0.97, 1.03, 1.0, 0.99))
    assert _compare(_measurement(current), _entry(BASE)).verdict is Verdict.PASS


def test_clear_slowdown_regresses() -> None:
    current = tuple(1.5 * x for x in BASE)
    comparison = _compare(_measurement(current), _entry(BASE))
    assert comparison.verdict is Verdict.REGRESSED
    epoch = comparison.metric("epoch_seconds")
    rate = comparison.metric("images_per_second")
    assert epoch is not None and rate is not None
    assert epoch.verdict is rate.verdict is Verdict.REGRESSED
    assert epoch.change == pytest.approx(1.5)
    assert 1.25 < epoch.interval_low <= epoch.interval_high
    assert rate.change == pytest.approx(1 / 1.5)
    violation = epoch.violation()
    assert violation is not None and violation.current == pytest.approx(1.5)


def test_regression_message_has_every_number() -> None:
    # Constant samples make the interval exact, so the whole text can be checked.
    comparison = _compare(
        _measurement((1.5, 1.5, 1.5)),
        _entry((1.0, 1.0, 1.0)),
        software={**SOFTWARE, "tensorflow": "2.21.0", "cuda": "12.4"},
    )
    assert comparison.message(FILE, ACCEPT) == "\n".join(
        [
            f"Training performance of {NODE} regressed beyond its tolerance:",
            "  epoch_seconds: measured 1.5 s (median of 3), baseline 1 s (median of 3), "
            "1.5x the baseline (90% interval 1.5x to 1.5x); tolerance: at most 1.25x the "
            "baseline, 25% slower (lower is better)",
            "  images_per_second: measured 4000 images/s (median of 3), baseline 6000 images/s "
            "(median of 3), 0.667x the baseline (90% interval 0.667x to 0.667x); tolerance: "
            "at least 0.8x the baseline, 25% slower (higher is better)",
            f"Baseline file: {FILE}, accepted 2026-01-05T10:30:15+00:00 by ana@build-3 "
            "(first run).",
            "Software changed since acceptance: cuda not recorded -> 12.4, "
            "tensorflow 2.20.0 -> 2.21.0.",
            "If the new figures are expected, accept them as the baseline with:",
            f"  {ACCEPT}",
        ]
    )


def test_regression_message_without_software_change_or_reason() -> None:
    comparison = _compare(_measurement((1.5, 1.5, 1.5)), _entry((1.0, 1.0, 1.0), reason=None))
    lines = comparison.message(FILE, ACCEPT).splitlines()
    assert lines[3] == (
        f"Baseline file: {FILE}, accepted 2026-01-05T10:30:15+00:00 by ana@build-3."
    )
    assert lines[4] == "Software changed since acceptance: no software change recorded."


def test_faster_run_is_improved() -> None:
    current = tuple(0.6 * x for x in BASE)
    comparison = _compare(_measurement(current), _entry(BASE))
    assert comparison.verdict is Verdict.IMPROVED
    message = comparison.message(FILE, ACCEPT)
    assert message.startswith(
        f"Training performance of {NODE} improved beyond its tolerance:\n"
        "  epoch_seconds: measured 0.6 s (median of 5), baseline 1 s (median of 5), "
        "0.6x the baseline (90% interval "
    )
    assert message.endswith(
        "Software changed since acceptance: no software change recorded.\n"
        "To keep the better figures as the baseline, so that a later slowdown is measured "
        f"from them, run:\n  {ACCEPT}"
    )


def test_noisy_run_is_unstable() -> None:
    current = (0.7, 1.0, 1.45, 1.3, 0.8)
    comparison = _compare(_measurement(current), _entry(BASE))
    assert comparison.verdict is Verdict.UNSTABLE
    epoch = comparison.metric("epoch_seconds")
    assert epoch is not None
    assert epoch.current_relative_spread is not None and epoch.current_relative_spread > 0.25
    message = comparison.message(FILE, ACCEPT)
    lines = message.splitlines()
    assert lines[0] == (
        f"Training performance of {NODE} could not be judged: the timing noise is too large "
        "for the tolerance."
    )
    assert lines[1].startswith("  epoch_seconds: measured 1 s (median of 5), baseline 1 s")
    assert lines[1].endswith(
        "; tolerance: at most 1.25x the baseline, 25% slower (lower is better); the current "
        "epochs vary by 44% (relative MAD), more than the 25% tolerance"
    )
    assert lines[-1] == (
        "To get a verdict, measure more epochs or repeats, run fewer tests in parallel on "
        "this machine, or widen this test's tolerance."
    )


def test_interval_straddling_the_bound_is_unstable() -> None:
    # A quiet run whose ratio sits right at the bound: neither pass nor regression.
    current = (1.15, 1.25, 1.3, 1.2, 1.35)
    comparison = _compare(_measurement(current), _entry(BASE))
    epoch = comparison.metric("epoch_seconds")
    assert epoch is not None
    assert epoch.interval_low < 1.25 < epoch.interval_high
    assert comparison.verdict is Verdict.UNSTABLE
    assert epoch.reason == (
        "the interval straddles the tolerance bound 1.25x, so neither a pass nor a "
        "regression can be claimed"
    )


def test_single_samples_use_the_plain_ratio_and_claim_no_change() -> None:
    comparison = _compare(_measurement((1.4,)), _entry((1.0,)))
    epoch = comparison.metric("epoch_seconds")
    assert epoch is not None
    # One epoch a side shows no noise: 1.4x is beyond the bound, but neither a
    # regression nor an improvement can be claimed from it.
    assert comparison.verdict is Verdict.UNSTABLE
    assert epoch.low_confidence
    assert epoch.confidence is None
    assert epoch.reason == (
        "a single measured epoch on one side cannot show a change with confidence; "
        "measure more epochs or pass --cnnperf-repeats"
    )
    assert epoch.describe().startswith(
        "epoch_seconds: measured 1.4 s (median of 1), baseline 1 s (median of 1), 1.4x the "
        "baseline (one sample on a side: plain ratio, low confidence); tolerance: at most "
        "1.25x the baseline, 25% slower (lower is better)"
    )
    faster = _compare(_measurement((0.5,)), _entry((1.0,)))
    assert faster.verdict is Verdict.UNSTABLE
    within = _compare(_measurement((1.1,)), _entry((1.0,)))
    assert within.verdict is Verdict.PASS


def test_accuracy_drop_regresses_alone() -> None:
    comparison = _compare(_measurement(BASE, accuracy=0.95), _entry(BASE, accuracy=0.98))
    assert comparison.verdict is Verdict.REGRESSED
    lines = comparison.message(FILE, ACCEPT).splitlines()
    assert lines[1] == (
        "  accuracy: measured 95.00%, baseline 98.00%, -3.00 points from the baseline; "
        "tolerance: at most 2 points below the baseline (higher is better)"
    )
    assert lines[2].startswith("Baseline file: ")


def test_small_accuracy_drop_passes() -> None:
    comparison = _compare(_measurement(BASE, accuracy=0.97), _entry(BASE, accuracy=0.98))
    assert comparison.verdict is Verdict.PASS


def test_missing_accuracy_is_noted_not_compared() -> None:
    comparison = _compare(_measurement(BASE, accuracy=None), _entry(BASE, accuracy=0.98))
    assert comparison.verdict is Verdict.PASS
    assert comparison.metric("accuracy") is None
    assert comparison.notes == ("Accuracy was not compared: this run has no accuracy figure.",)


def test_regression_beats_improvement() -> None:
    comparison = _compare(
        _measurement(tuple(0.5 * x for x in BASE), accuracy=0.90), _entry(BASE, accuracy=0.98)
    )
    assert comparison.verdict is Verdict.REGRESSED
    assert comparison.message(FILE, ACCEPT).count("\n  accuracy:") == 1
    assert "epoch_seconds" not in comparison.message(FILE, ACCEPT)


def test_no_baseline_is_new() -> None:
    comparison = _compare(_measurement((1.0, 1.2, 1.1)), None)
    assert comparison.verdict is Verdict.NEW
    assert comparison.metrics == ()
    assert comparison.message(FILE, ACCEPT) == (
        f"No baseline for {NODE} on this hardware in {FILE} (measured epoch median 1.1 s, "
        f"5455 images/s, accuracy 98.00%).\nTo record these figures as its baseline, run:\n"
        f"  {ACCEPT}"
    )


def test_changed_setup_is_new_with_a_note() -> None:
    comparison = _compare(_measurement(BASE, batch_size=256, accuracy=None), _entry(BASE))
    assert comparison.verdict is Verdict.NEW
    assert comparison.message(FILE, ACCEPT).splitlines()[0] == (
        f"No comparable baseline for {NODE} in {FILE} (measured epoch median 1 s, 6000 images/s)."
    )
    assert comparison.message(FILE, ACCEPT).splitlines()[1] == (
        "The baseline entry was accepted with batch_size=128 but this run used "
        "batch_size=256, so their figures are not comparable."
    )


def test_failed_test_message() -> None:
    comparison = failed(NODE, reason="ResourceExhaustedError in epoch 1")
    assert comparison.verdict is Verdict.FAILED
    assert comparison.message(FILE, ACCEPT) == (
        f"No performance verdict for {NODE}: the test failed before its figures were "
        "measured (ResourceExhaustedError in epoch 1)."
    )
    assert comparison.to_dict()["verdict"] == "failed"


def test_same_inputs_give_the_same_verdict_and_interval() -> None:
    current = _measurement((1.1, 1.3, 1.2, 1.25))
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


def test_to_dict_is_json_ready() -> None:
    comparison = _compare(
        _measurement((1.5, 1.5, 1.5)),
        _entry((1.0, 1.0, 1.0)),
        software={**SOFTWARE, "tensorflow": "2.21.0"},
    )
    data = json.loads(json.dumps(comparison.to_dict()))
    assert data["node_id"] == NODE
    assert data["verdict"] == "regressed"
    assert data["software_changes"] == ["tensorflow 2.20.0 -> 2.21.0"]
    assert data["baseline"] == {
        "accepted_at": "2026-01-05T10:30:15+00:00",
        "accepted_by": "ana@build-3",
        "reason": "first run",
    }
    assert data["current"] == {
        "epoch_seconds": 1.5,
        "images_per_second": 4000.0,
        "accuracy": 0.98,
        "epoch_count": 3,
    }
    assert data["metrics"]["epoch_seconds"] == {
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
    }
    assert data["metrics"]["accuracy"]["change_kind"] == "points"
    assert data["metrics"]["accuracy"]["verdict"] == "pass"


def test_count_verdicts() -> None:
    comparisons = [
        _compare(_measurement(BASE), _entry(BASE)),
        _compare(_measurement(BASE), None),
        failed("t.py::b", reason="boom"),
    ]
    assert count_verdicts(comparisons) == {
        "pass": 1,
        "regressed": 0,
        "improved": 0,
        "unstable": 0,
        "new": 1,
        "failed": 1,
    }
