"""Unit tests for the metric registry: declarations, tolerance parsing, samples, printing."""

from __future__ import annotations

import argparse
import math
from typing import Any

import pytest
from legacy_metrics import EPOCH_SECONDS, LEGACY_METRICS, legacy_registry
from metric_helpers import custom_metric

from pytest_cnnperf.metrics import (
    ACCURACY,
    POINTS_FORM,
    RELATIVE_FORM,
    Metric,
    MetricRegistry,
    format_number,
    format_seconds,
    parse_points,
    parse_relative,
)

# The generic registry mechanics are tested on the schema-3 declaration of
# epoch_seconds (tests/legacy_metrics.py); step_time in test_verdict_rule.py.
BUILTIN_METRICS = LEGACY_METRICS


_metric = custom_metric


#: An absolute metric that is not a fraction: a difference in MB is judged.
GPU_MB = _metric(name="gpu_mb", relative=False, default_tolerance=50.0)
#: A relative metric where higher is better.
THROUGHPUT = _metric(name="throughput", unit="images/s", better="higher", default_tolerance=0.2)


# --------------------------------------------------------------------------- registry


def test_builtin_registry_names_and_aliases() -> None:
    registry = legacy_registry()
    assert registry.names() == ("epoch_seconds", "accuracy")
    assert tuple(registry) == BUILTIN_METRICS == (EPOCH_SECONDS, ACCURACY)
    assert len(registry) == 2
    assert registry.accepted_names() == (
        "epoch_seconds",
        "epoch_time",
        "images_per_second",
        "accuracy",
    )


def test_alias_lookup() -> None:
    registry = legacy_registry()
    assert registry.get("epoch_seconds") is EPOCH_SECONDS
    assert registry.get("epoch_time") is EPOCH_SECONDS
    assert registry.get("images_per_second") is EPOCH_SECONDS
    assert registry.get("accuracy") is ACCURACY
    assert registry.get("speed") is None
    # Membership is by name only: an alias is not a metric of its own.
    assert "epoch_seconds" in registry
    assert "epoch_time" not in registry
    assert "speed" not in registry


def test_register_adds_in_declaration_order() -> None:
    registry = legacy_registry()
    memory = _metric()
    assert registry.register(memory) is memory
    assert registry.register(GPU_MB) is GPU_MB
    assert registry.names() == ("epoch_seconds", "accuracy", "peak_memory", "gpu_mb")
    assert registry.get("peak_memory") is memory
    assert len(registry) == 4


def test_registry_from_a_list_and_empty() -> None:
    assert MetricRegistry([ACCURACY]).names() == ("accuracy",)
    empty = MetricRegistry([])
    assert len(empty) == 0
    assert empty.names() == ()
    assert empty.get("accuracy") is None


def test_duplicate_name_is_refused() -> None:
    registry = legacy_registry()
    with pytest.raises(ValueError) as info:
        registry.register(_metric(name="accuracy"))
    assert str(info.value) == (
        "Expected a metric name not declared yet. Received: name='accuracy', already declared "
        "by the metric 'accuracy'"
    )


def test_duplicate_alias_is_refused_and_nothing_registered() -> None:
    registry = legacy_registry()
    with pytest.raises(ValueError) as info:
        registry.register(_metric(name="wall_time", aliases=("epoch_time",)))
    assert str(info.value) == (
        "Expected a metric name not declared yet. Received: name='epoch_time', already declared "
        "by the metric 'epoch_seconds'"
    )
    assert registry.names() == ("epoch_seconds", "accuracy")
    assert registry.get("wall_time") is None


def test_name_clashing_with_an_alias_is_refused() -> None:
    with pytest.raises(ValueError) as info:
        MetricRegistry([*BUILTIN_METRICS, _metric(name="images_per_second")])
    assert str(info.value) == (
        "Expected a metric name not declared yet. Received: name='images_per_second', already "
        "declared by the metric 'epoch_seconds'"
    )


# --------------------------------------------------------------------------- declaration


@pytest.mark.parametrize(
    ("changes", "bad"),
    [
        ({"name": "Peak"}, "Peak"),
        ({"name": "1st"}, "1st"),
        ({"name": "peak-memory"}, "peak-memory"),
        ({"name": ""}, ""),
        ({"name": "peak memory"}, "peak memory"),
        ({"aliases": ("ok_alias", "Bad")}, "Bad"),
    ],
)
def test_invalid_names_are_refused(changes: dict[str, Any], bad: str) -> None:
    with pytest.raises(ValueError) as info:
        _metric(**changes)
    assert str(info.value) == (
        "Expected a metric name of lower-case letters, digits and underscores. "
        f"Received: name={bad!r}"
    )


def test_invalid_better_is_refused() -> None:
    with pytest.raises(ValueError) as info:
        _metric(better="up")
    assert str(info.value) == "Expected better to be 'lower' or 'higher'. Received: better='up'"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"default_tolerance": 0.0},
            "Expected the default_tolerance of peak_memory to be a finite number above 0: "
            "figures are never exactly repeatable, so a zero tolerance can only report noise. "
            "Received: 0.0",
        ),
        (
            {"default_tolerance": "10%"},
            "Expected the default_tolerance of peak_memory to be a number. Received: '10%'",
        ),
        (
            {"name": "top5", "relative": False, "fraction": True, "default_tolerance": 2.0},
            "Expected the default_tolerance of top5 to be below 1: it is a difference of "
            "fractions, 0.02 is 2 points. Received: 2.0",
        ),
    ],
)
def test_invalid_default_tolerance_is_refused(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as info:
        _metric(**changes)
    assert str(info.value) == message


def test_builtin_declarations() -> None:
    assert (EPOCH_SECONDS.unit, EPOCH_SECONDS.better, EPOCH_SECONDS.relative) == (
        "s",
        "lower",
        True,
    )
    assert EPOCH_SECONDS.default_tolerance == 0.25
    assert EPOCH_SECONDS.noisy and not EPOCH_SECONDS.fraction
    assert EPOCH_SECONDS.column == "median epoch"
    assert (ACCURACY.better, ACCURACY.relative, ACCURACY.fraction) == ("higher", False, True)
    assert ACCURACY.default_tolerance == 0.02
    assert not ACCURACY.noisy
    assert ACCURACY.aliases == ()
    assert ACCURACY.column == "accuracy"
    assert _metric().column is None


# --------------------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("text", "value"),
    [("20%", 0.2), ("0.2", 0.2), (" 7.5 % ", 0.075), ("150%", 1.5), (".3", 0.3), ("5.%", 0.05)],
)
def test_parse_relative(text: str, value: float) -> None:
    assert parse_relative(text) == pytest.approx(value)


@pytest.mark.parametrize(
    "text", ["20", "1.0", "1", "0", "0%", "-5%", "fast", "20 percent", "", "2pt", "1e-3"]
)
def test_parse_relative_rejects(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError) as info:
        parse_relative(text)
    assert str(info.value) == (
        "expected a relative tolerance such as '20%' or '0.2' (a fraction below 1 without "
        f"'%'), got {text!r}"
    )
    assert RELATIVE_FORM in str(info.value)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("2pt", 0.02),
        ("0.02", 0.02),
        ("2 pts", 0.02),
        ("0.5points", 0.005),
        ("1 point", 0.01),
        ("2PT", 0.02),
        ("99.9pt", 0.999),
    ],
)
def test_parse_points(text: str, value: float) -> None:
    assert parse_points(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["2", "0", "1", "100pt", "two points", "0pt", "", "-2pt"])
def test_parse_points_rejects(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError) as info:
        parse_points(text)
    assert str(info.value) == (
        "expected a tolerance in absolute points such as '2pt' or '0.02' (a fraction below "
        f"1), got {text!r}"
    )
    assert POINTS_FORM in str(info.value)


@pytest.mark.parametrize("text", ["2%", " 0.5 % "])
def test_parse_points_refuses_percent(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError) as info:
        parse_points(text)
    assert str(info.value) == (
        "expected a tolerance in absolute points such as '2pt' or '0.02' (a fraction below "
        "1); '%' is ambiguous here (points or a share of the baseline?), so write 'pt' for "
        f"percentage points, got {text!r}"
    )


def test_parse_tolerance_relative_metric() -> None:
    assert EPOCH_SECONDS.parse_tolerance("20%") == pytest.approx(0.2)
    assert EPOCH_SECONDS.parse_tolerance("0.3") == pytest.approx(0.3)
    assert THROUGHPUT.parse_tolerance("150%") == pytest.approx(1.5)
    with pytest.raises(argparse.ArgumentTypeError) as info:
        EPOCH_SECONDS.parse_tolerance("2pt")
    assert str(info.value) == f"expected {RELATIVE_FORM}, got '2pt'"


def test_parse_tolerance_fraction_metric_takes_points() -> None:
    assert ACCURACY.parse_tolerance("2pt") == pytest.approx(0.02)
    assert ACCURACY.parse_tolerance("0.015") == pytest.approx(0.015)
    with pytest.raises(argparse.ArgumentTypeError) as info:
        ACCURACY.parse_tolerance("2%")
    assert str(info.value).startswith(f"expected {POINTS_FORM}; '%' is ambiguous here")
    with pytest.raises(argparse.ArgumentTypeError) as info:
        ACCURACY.parse_tolerance("5")
    assert str(info.value) == f"expected {POINTS_FORM}, got '5'"


@pytest.mark.parametrize(("text", "value"), [("0.5", 0.5), ("50", 50.0), (" 12.25 ", 12.25)])
def test_parse_tolerance_absolute_metric_in_its_unit(text: str, value: float) -> None:
    assert GPU_MB.parse_tolerance(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["5%", "0", "-1", "2pt", "lots", "", "1e3"])
def test_parse_tolerance_absolute_metric_rejects(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError) as info:
        GPU_MB.parse_tolerance(text)
    assert str(info.value) == (
        f"expected an absolute tolerance in MB, a number above 0 such as '0.5', got {text!r}"
    )


def test_parse_tolerance_absolute_metric_without_a_unit() -> None:
    loss = _metric(name="loss", unit="", relative=False, default_tolerance=0.1)
    with pytest.raises(argparse.ArgumentTypeError) as info:
        loss.parse_tolerance("x")
    assert str(info.value) == (
        "expected an absolute tolerance in the unit of the figure, a number above 0 such as "
        "'0.5', got 'x'"
    )


def test_tolerance_form_per_kind() -> None:
    assert EPOCH_SECONDS.tolerance_form() == RELATIVE_FORM
    assert ACCURACY.tolerance_form() == POINTS_FORM
    assert GPU_MB.tolerance_form() == "a number above 0 in MB"


# --------------------------------------------------------------------------- checks


@pytest.mark.parametrize(
    ("metric", "value"),
    [(EPOCH_SECONDS, 0.25), (EPOCH_SECONDS, 1.5), (ACCURACY, 0.02), (GPU_MB, 50), (GPU_MB, 2.0)],
)
def test_check_tolerance_accepts(metric: Metric, value: float) -> None:
    checked = metric.check_tolerance(value, where="the tolerance")
    assert checked == value
    assert isinstance(checked, float)


@pytest.mark.parametrize(
    ("metric", "value", "message"),
    [
        (EPOCH_SECONDS, True, "Expected t to be a number. Received: True"),
        (EPOCH_SECONDS, "20%", "Expected t to be a number. Received: '20%'"),
        (EPOCH_SECONDS, None, "Expected t to be a number. Received: None"),
        (
            EPOCH_SECONDS,
            0,
            "Expected t to be a finite number above 0: figures are never exactly repeatable, "
            "so a zero tolerance can only report noise. Received: 0",
        ),
        (
            GPU_MB,
            -1.0,
            "Expected t to be a finite number above 0: figures are never exactly repeatable, "
            "so a zero tolerance can only report noise. Received: -1.0",
        ),
        (
            EPOCH_SECONDS,
            math.inf,
            "Expected t to be a finite number above 0: figures are never exactly repeatable, "
            "so a zero tolerance can only report noise. Received: inf",
        ),
        (
            ACCURACY,
            math.nan,
            "Expected t to be a finite number above 0: figures are never exactly repeatable, "
            "so a zero tolerance can only report noise. Received: nan",
        ),
        (
            ACCURACY,
            1.0,
            "Expected t to be below 1: it is a difference of fractions, 0.02 is 2 points. "
            "Received: 1.0",
        ),
    ],
)
def test_check_tolerance_rejects(metric: Metric, value: object, message: str) -> None:
    with pytest.raises(ValueError) as info:
        metric.check_tolerance(value, where="t")
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("metric", "value", "valid"),
    [
        (EPOCH_SECONDS, 1.0, True),
        (EPOCH_SECONDS, 3, True),
        (EPOCH_SECONDS, 0.0, False),
        (EPOCH_SECONDS, -1.0, False),
        (EPOCH_SECONDS, math.nan, False),
        (EPOCH_SECONDS, math.inf, False),
        (EPOCH_SECONDS, True, False),
        (EPOCH_SECONDS, "1.0", False),
        (EPOCH_SECONDS, None, False),
        (ACCURACY, 0.0, True),
        (ACCURACY, 1, True),
        (ACCURACY, 0.981, True),
        (ACCURACY, 1.01, False),
        (ACCURACY, -0.01, False),
        (ACCURACY, 98.1, False),
        (ACCURACY, False, False),
        (GPU_MB, -3.0, True),
        (GPU_MB, 0, True),
        (GPU_MB, 1e9, True),
        (GPU_MB, -math.inf, False),
        (GPU_MB, [1.0], False),
    ],
)
def test_check_sample(metric: Metric, value: object, valid: bool) -> None:
    assert metric.check_sample(value) is valid


def test_sample_form_per_kind() -> None:
    assert EPOCH_SECONDS.sample_form() == "a finite number above 0"
    assert ACCURACY.sample_form() == "a number from 0 to 1"
    assert GPU_MB.sample_form() == "a finite number"


# --------------------------------------------------------------------------- printing


def test_format_number_and_seconds() -> None:
    assert format_number(14252.37) == "14252"
    assert format_number(1000.0) == "1000"
    assert format_number(95.4321) == "95.43"
    assert format_number(0.0123456) == "0.01235"
    assert format_number(-2500.4) == "-2500"
    assert format_seconds(0.0521) == "52.1 ms"
    assert format_seconds(1.234) == "1.23 s"
    assert format_seconds(1.0) == "1.00 s"


def test_format_value_without_scientific_notation() -> None:
    assert EPOCH_SECONDS.format_value(1.234) == "1.234 s"
    assert EPOCH_SECONDS.format_value(0.0123456) == "0.01235 s"
    assert EPOCH_SECONDS.format_value(1.0) == "1 s"
    assert THROUGHPUT.format_value(14252.37) == "14252 images/s"
    assert THROUGHPUT.format_value(95.4321) == "95.43 images/s"
    assert ACCURACY.format_value(0.98765) == "98.77%"
    assert ACCURACY.format_value(1.0) == "100.00%"
    assert GPU_MB.format_value(812.0) == "812 MB"
    # No unit: no trailing space.
    assert _metric(unit="").format_value(3.0) == "3"


def test_format_cell() -> None:
    assert EPOCH_SECONDS.format_cell(None) == "-"
    assert ACCURACY.format_cell(None) == "-"
    assert EPOCH_SECONDS.format_cell(0.0521) == "52.1 ms"
    assert EPOCH_SECONDS.format_cell(1.234) == "1.23 s"
    assert ACCURACY.format_cell(0.98765) == "0.9877"
    # Without a cell formatter, a cell reads as in messages.
    assert GPU_MB.format_cell(812.0) == "812 MB"
    custom = _metric(cell=lambda value: f"{value:.1f}M")
    assert custom.format_cell(812.04) == "812.0M"


def test_cell_formatter_does_not_take_part_in_equality() -> None:
    assert _metric(cell=lambda value: "a") == _metric(cell=lambda value: "b")


@pytest.mark.parametrize(
    ("metric", "change", "short", "long"),
    [
        (EPOCH_SECONDS, 1.5, "1.5x", "1.5x the baseline"),
        (EPOCH_SECONDS, 1.0, "1x", "1x the baseline"),
        (EPOCH_SECONDS, 1 / 1.5, "0.667x", "0.667x the baseline"),
        (THROUGHPUT, 1.25, "1.25x", "1.25x the baseline"),
        (ACCURACY, -0.021, "-2.10 points", "-2.10 points from the baseline"),
        (ACCURACY, 0.0, "+0.00 points", "+0.00 points from the baseline"),
        (ACCURACY, 0.03, "+3.00 points", "+3.00 points from the baseline"),
        (GPU_MB, 0.3, "+0.3 MB", "+0.3 MB from the baseline"),
        (GPU_MB, -64.0, "-64 MB", "-64 MB from the baseline"),
    ],
)
def test_format_change(metric: Metric, change: float, short: str, long: str) -> None:
    assert metric.format_change_short(change) == short
    assert metric.format_change(change) == long


def test_format_change_without_a_unit() -> None:
    loss = _metric(name="loss", unit="", relative=False, default_tolerance=0.1)
    assert loss.format_change_short(0.7 - 0.5) == "+0.2"
    assert loss.format_change(-0.05) == "-0.05 from the baseline"
