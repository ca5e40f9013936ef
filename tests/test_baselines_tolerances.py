"""Unit tests for tolerance rules, parsing and precedence."""

from __future__ import annotations

import argparse

import pytest

from pytest_cnnperf.baselines import (
    ToleranceOverrides,
    Tolerances,
    parse_accuracy_tolerance,
    parse_relative_tolerance,
    parse_tolerances,
    resolve_tolerances,
)


def test_default_tolerances() -> None:
    assert Tolerances().to_dict() == {
        "epoch_time": 0.25,
        "images_per_second": 0.25,
        "accuracy": 0.02,
    }


def test_epoch_time_rule_lower_is_better() -> None:
    rule = Tolerances(epoch_time_rel=0.25).epoch_seconds_rule()
    assert rule.worse_bound() == pytest.approx(1.25)
    assert rule.better_bound() == pytest.approx(0.8)
    assert rule.is_worse(1.3) and not rule.is_worse(1.2)
    assert rule.is_better(0.7) and not rule.is_better(0.9)
    assert rule.violation(2.0, 2.4) is None


def test_images_per_second_rule_mirrors_epoch_time() -> None:
    tolerances = Tolerances(epoch_time_rel=0.25, images_per_second_rel=0.25)
    time_rule = tolerances.epoch_seconds_rule()
    rate_rule = tolerances.images_per_second_rule()
    # A run 1.3x slower is 1/1.3x the throughput: both rules must agree.
    assert time_rule.is_worse(1.3) and rate_rule.is_worse(1 / 1.3)
    assert not time_rule.is_worse(1.2) and not rate_rule.is_worse(1 / 1.2)
    assert rate_rule.worse_bound() == pytest.approx(0.8)
    assert rate_rule.better_bound() == pytest.approx(1.25)


def test_accuracy_rule_is_absolute_points() -> None:
    rule = Tolerances(accuracy_abs=0.02).accuracy_rule()
    assert rule.change(0.98, 0.95) == pytest.approx(-0.03)
    assert rule.is_worse(-0.03) and not rule.is_worse(-0.01)
    assert rule.is_better(0.03) and not rule.is_better(0.01)


def test_relative_violation_holds_every_number() -> None:
    rule = Tolerances().epoch_seconds_rule()
    violation = rule.violation(2.0, 3.0, interval=(1.4, 1.6), confidence=0.9)
    assert violation is not None
    assert (violation.baseline, violation.current, violation.change) == (2.0, 3.0, 1.5)
    assert violation.describe() == (
        "epoch_seconds: measured 3 s, baseline 2 s, 1.5x the baseline "
        "(90% interval 1.4x to 1.6x); tolerance: at most 1.25x the baseline, 25% slower "
        "(lower is better)"
    )


def test_violation_needs_the_whole_interval_beyond_the_bound() -> None:
    rule = Tolerances().epoch_seconds_rule()
    assert rule.violation(2.0, 3.0, interval=(1.2, 1.6), confidence=0.9) is None


def test_accuracy_violation_text() -> None:
    violation = Tolerances().accuracy_rule().violation(0.98, 0.95)
    assert violation is not None
    assert violation.describe() == (
        "accuracy: measured 95.00%, baseline 98.00%, -3.00 points from the baseline; "
        "tolerance: at most 2 points below the baseline (higher is better)"
    )


def test_throughput_rule_text() -> None:
    assert Tolerances(images_per_second_rel=0.5).images_per_second_rule().describe() == (
        "at least 0.667x the baseline, 50% slower (higher is better)"
    )


@pytest.mark.parametrize(
    ("text", "value"),
    [("20%", 0.2), ("0.2", 0.2), (" 7.5 % ", 0.075), ("150%", 1.5), (".3", 0.3)],
)
def test_parse_relative_tolerance(text: str, value: float) -> None:
    assert parse_relative_tolerance(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["20", "1.0", "0", "0%", "-5%", "fast", "20 percent", ""])
def test_parse_relative_tolerance_rejects(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError) as info:
        parse_relative_tolerance(text)
    assert str(info.value) == (
        "Expected a relative tolerance such as '20%' or '0.2' (a fraction below 1 "
        f"without '%'). Received: {text!r}"
    )


@pytest.mark.parametrize(
    ("text", "value"),
    [("2pt", 0.02), ("0.02", 0.02), ("2 pts", 0.02), ("0.5points", 0.005), ("1 point", 0.01)],
)
def test_parse_accuracy_tolerance(text: str, value: float) -> None:
    assert parse_accuracy_tolerance(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["2", "0", "100pt", "two points", "0pt"])
def test_parse_accuracy_tolerance_rejects(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError) as info:
        parse_accuracy_tolerance(text)
    assert str(info.value) == (
        "Expected an accuracy tolerance in absolute points such as '2pt' or '0.02' "
        f"(a fraction below 1). Received: {text!r}"
    )


def test_parse_accuracy_tolerance_refuses_percent() -> None:
    with pytest.raises(argparse.ArgumentTypeError) as info:
        parse_accuracy_tolerance("2%")
    assert str(info.value) == (
        "Expected an accuracy tolerance in absolute points such as '2pt' or '0.02' "
        "(a fraction below 1); '%' is ambiguous for accuracy (points or a share of the "
        "baseline?), so write 'pt' for percentage points. Received: '2%'"
    )


def test_parse_tolerances_single_value_sets_both_timing_metrics() -> None:
    assert parse_tolerances("30%") == ToleranceOverrides(
        epoch_time_rel=0.3, images_per_second_rel=0.3, accuracy_abs=None
    )


def test_parse_tolerances_named_values() -> None:
    overrides = parse_tolerances("epoch_time=10%, accuracy=1pt")
    assert overrides.epoch_time_rel == pytest.approx(0.1)
    assert overrides.images_per_second_rel is None
    assert overrides.accuracy_abs == pytest.approx(0.01)


@pytest.mark.parametrize("text", ["speed=10%", "epoch_time:10%", "epoch_time=10%,", "20"])
def test_parse_tolerances_rejects_malformed_specs(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError) as info:
        parse_tolerances(text)
    assert str(info.value) == (
        "Expected a tolerance such as '20%' or a list such as "
        f"'epoch_time=20%,images_per_second=20%,accuracy=2pt'. Received: {text!r}"
    )


def test_parse_tolerances_names_the_bad_value() -> None:
    with pytest.raises(argparse.ArgumentTypeError) as info:
        parse_tolerances("epoch_time=20%,accuracy=2%")
    assert str(info.value).endswith("so write 'pt' for percentage points. Received: '2%'")


def test_precedence_defaults_ini_cli_marker() -> None:
    ini = ToleranceOverrides(epoch_time_rel=0.4, images_per_second_rel=0.4, accuracy_abs=0.05)
    cli = ToleranceOverrides(epoch_time_rel=0.3)
    marker = ToleranceOverrides(epoch_time_rel=0.5, accuracy_abs=None)
    resolved = resolve_tolerances(ini, cli, marker)
    assert resolved == Tolerances(epoch_time_rel=0.5, images_per_second_rel=0.4, accuracy_abs=0.05)
    assert resolve_tolerances(ini, None, None) == Tolerances(0.4, 0.4, 0.05)
    assert resolve_tolerances() == Tolerances()


def test_overrides_from_marker_mapping() -> None:
    overrides = ToleranceOverrides.from_mapping(
        {"epoch_time": "40%", "images_per_second": 0.4, "accuracy": "3pt"},
        source="the cnnperf marker of t.py::a",
    )
    assert overrides.epoch_time_rel == pytest.approx(0.4)
    assert overrides.images_per_second_rel == pytest.approx(0.4)
    assert overrides.accuracy_abs == pytest.approx(0.03)


def test_overrides_from_mapping_rejects_unknown_name() -> None:
    with pytest.raises(ValueError) as info:
        ToleranceOverrides.from_mapping({"speed": "10%"}, source="the cnnperf marker of t.py::a")
    assert str(info.value) == (
        "Expected tolerance names in the cnnperf marker of t.py::a to be among epoch_time, "
        "images_per_second, accuracy. Received: speed='10%'"
    )


def test_overrides_from_mapping_rejects_bad_value() -> None:
    with pytest.raises(ValueError) as info:
        ToleranceOverrides.from_mapping({"accuracy": "2%"}, source="the marker")
    assert str(info.value).startswith(
        "In the marker: Expected an accuracy tolerance in absolute points"
    )


def test_overrides_from_mapping_rejects_wrong_type() -> None:
    with pytest.raises(ValueError) as info:
        ToleranceOverrides.from_mapping({"epoch_time": [0.2]}, source="the marker")
    assert str(info.value) == (
        "Expected epoch_time in the marker to be a number or a string such as '20%' or "
        "'2pt'. Received: epoch_time=[0.2]"
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"epoch_time_rel": 0.0},
            "Expected epoch_time_rel to be above 0: timing and accuracy are never exactly "
            "repeatable, so a zero tolerance can only report noise. Received: epoch_time_rel=0.0",
        ),
        (
            {"images_per_second_rel": float("inf")},
            "Expected images_per_second_rel to be a finite number. "
            "Received: images_per_second_rel=inf",
        ),
        (
            {"accuracy_abs": 2.0},
            "Expected accuracy_abs to be below 1 (it is a difference in top-1 accuracy as a "
            "fraction: 0.02 is 2 points). Received: accuracy_abs=2.0",
        ),
    ],
)
def test_tolerances_reject_bad_values(changes: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError) as info:
        Tolerances(**changes)
    assert str(info.value) == message


def test_values_are_printed_without_scientific_notation() -> None:
    rule = Tolerances().images_per_second_rule()
    assert rule.format_value(14252.37) == "14252 images/s"
    assert rule.format_value(95.4321) == "95.43 images/s"
    assert Tolerances().epoch_seconds_rule().format_value(0.0123456) == "0.01235 s"
    assert Tolerances().accuracy_rule().format_value(0.98765) == "98.77%"
