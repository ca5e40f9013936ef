"""Unit tests for tolerance rules, parsing and precedence, over the metric registry."""

from __future__ import annotations

import argparse

import pytest
from legacy_metrics import EPOCH_SECONDS, LEGACY_METRICS, legacy_registry
from metric_helpers import custom_metric

from pytest_cnnperf.baselines import (
    MetricTolerance,
    ToleranceOverrides,
    Tolerances,
    known_settings,
    overrides_from_settings,
    parse_tolerances,
    resolve_tolerances,
)
from pytest_cnnperf.metrics import ACCURACY, MetricRegistry

REGISTRY = legacy_registry()
SOURCE = "the cnnperf marker of t.py::a"


_metric = custom_metric


MEMORY = _metric()
THROUGHPUT = _metric(name="throughput", unit="images/s", better="higher", default_tolerance=0.2)
GPU_MB = _metric(name="gpu_mb", relative=False, default_tolerance=50.0)
CUSTOM = MetricRegistry([*LEGACY_METRICS, MEMORY, GPU_MB])


# --------------------------------------------------------------------------- rules


def test_default_tolerances_come_from_the_registry() -> None:
    assert Tolerances.defaults(REGISTRY).to_dict() == {"epoch_seconds": 0.25, "accuracy": 0.02}
    assert Tolerances.defaults(CUSTOM).to_dict() == {
        "epoch_seconds": 0.25,
        "accuracy": 0.02,
        "peak_memory": 0.1,
        "gpu_mb": 50.0,
    }
    assert Tolerances.defaults(MetricRegistry([])).to_dict() == {}


def test_rule_falls_back_to_the_metric_default() -> None:
    tolerances = Tolerances({"epoch_seconds": 0.4})
    assert tolerances.rule(EPOCH_SECONDS) == MetricTolerance(EPOCH_SECONDS, 0.4)
    assert tolerances.rule(ACCURACY) == MetricTolerance(ACCURACY, 0.02)
    assert tolerances.rule(MEMORY).limit == 0.1


def test_epoch_seconds_rule_lower_is_better() -> None:
    rule = Tolerances({"epoch_seconds": 0.25}).rule(EPOCH_SECONDS)
    assert rule.change(2.0, 3.0) == pytest.approx(1.5)
    assert rule.worse_bound() == pytest.approx(1.25)
    assert rule.better_bound() == pytest.approx(0.8)
    assert rule.is_worse(1.3) and not rule.is_worse(1.2)
    assert rule.is_better(0.7) and not rule.is_better(0.9)
    # 2.4 s against 2 s is 1.2x: inside the band.
    assert not rule.is_worse(rule.change(2.0, 2.4))


def test_throughput_band_mirrors_epoch_time() -> None:
    # images_per_second is no longer a metric; a relative higher-is-better metric
    # has the mirror band: a run 1.3x slower is 1/1.3x the throughput.
    time_rule = MetricTolerance(EPOCH_SECONDS, 0.25)
    rate_rule = MetricTolerance(THROUGHPUT, 0.25)
    assert time_rule.is_worse(1.3) and rate_rule.is_worse(1 / 1.3)
    assert not time_rule.is_worse(1.2) and not rate_rule.is_worse(1 / 1.2)
    assert rate_rule.worse_bound() == pytest.approx(0.8)
    assert rate_rule.better_bound() == pytest.approx(1.25)
    assert rate_rule.is_better(1.3) and not rate_rule.is_better(1.2)


def test_accuracy_rule_is_absolute_points() -> None:
    rule = Tolerances({"accuracy": 0.02}).rule(ACCURACY)
    assert rule.change(0.98, 0.95) == pytest.approx(-0.03)
    assert rule.worse_bound() == -0.02
    assert rule.better_bound() == 0.02
    assert rule.is_worse(-0.03) and not rule.is_worse(-0.01)
    assert rule.is_better(0.03) and not rule.is_better(0.01)


def test_absolute_lower_is_better_rule() -> None:
    rule = MetricTolerance(GPU_MB, 50.0)
    assert rule.change(800.0, 870.0) == pytest.approx(70.0)
    assert rule.worse_bound() == 50.0
    assert rule.better_bound() == -50.0
    assert rule.is_worse(70.0) and not rule.is_worse(40.0)
    assert rule.is_better(-60.0) and not rule.is_better(-40.0)


@pytest.mark.parametrize(
    ("rule", "text"),
    [
        (
            MetricTolerance(EPOCH_SECONDS, 0.25),
            "at most 1.25x the baseline, 25% slower (lower is better)",
        ),
        (
            MetricTolerance(THROUGHPUT, 0.5),
            "at least 0.6667x the baseline, 50% worse (higher is better)",
        ),
        (MetricTolerance(MEMORY, 0.1), "at most 1.1x the baseline, 10% worse (lower is better)"),
        (
            MetricTolerance(ACCURACY, 0.02),
            "at most 2 points below the baseline (higher is better)",
        ),
        (
            MetricTolerance(ACCURACY, 0.005),
            "at most 0.5 points below the baseline (higher is better)",
        ),
        (MetricTolerance(GPU_MB, 50.0), "at most 50 MB above the baseline (lower is better)"),
    ],
)
def test_rule_describe(rule: MetricTolerance, text: str) -> None:
    assert rule.describe() == text


def test_tolerances_round_trip_as_plain_data() -> None:
    tolerances = Tolerances({"epoch_seconds": 0.3, "accuracy": 0.01, "gpu_mb": 64.0})
    assert Tolerances.from_dict(tolerances.to_dict()) == tolerances
    assert Tolerances.from_dict({"epoch_seconds": 1}).limits == {"epoch_seconds": 1.0}


# --------------------------------------------------------------------------- parsing


def test_bare_value_sets_every_relative_metric() -> None:
    assert parse_tolerances("30%", REGISTRY) == ToleranceOverrides({"epoch_seconds": 0.3})
    assert parse_tolerances("0.3", REGISTRY) == ToleranceOverrides({"epoch_seconds": 0.3})
    # Not the absolute ones: '30%' of accuracy or of megabytes means nothing.
    assert parse_tolerances("30%", CUSTOM) == ToleranceOverrides(
        {"epoch_seconds": 0.3, "peak_memory": 0.3}
    )


def test_named_values() -> None:
    overrides = parse_tolerances("epoch_seconds=20%,accuracy=2pt", REGISTRY)
    assert overrides.limits == pytest.approx({"epoch_seconds": 0.2, "accuracy": 0.02})
    assert parse_tolerances(" accuracy = 1pt ", REGISTRY).limits == pytest.approx(
        {"accuracy": 0.01}
    )
    assert parse_tolerances("gpu_mb=64,peak_memory=15%", CUSTOM).limits == pytest.approx(
        {"gpu_mb": 64.0, "peak_memory": 0.15}
    )


@pytest.mark.parametrize("alias", ["epoch_time", "images_per_second"])
def test_old_names_are_aliases_of_epoch_seconds(alias: str) -> None:
    overrides = parse_tolerances(f"{alias}=10%, accuracy=1pt", REGISTRY)
    assert overrides.limits == pytest.approx({"epoch_seconds": 0.1, "accuracy": 0.01})


@pytest.mark.parametrize(
    "text", ["epoch_seconds:10%", "epoch_seconds=10%,", "20", "", "=20%", "2pt", "fast", ",,"]
)
def test_malformed_specs_are_refused(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError) as info:
        parse_tolerances(text, REGISTRY)
    assert str(info.value) == (
        "expected a tolerance such as '20%' or a list such as "
        f"'epoch_seconds=20%,accuracy=2pt', got {text!r}"
    )


def test_malformed_spec_example_lists_the_registry() -> None:
    with pytest.raises(argparse.ArgumentTypeError) as info:
        parse_tolerances("lots", CUSTOM)
    assert str(info.value) == (
        "expected a tolerance such as '20%' or a list such as "
        "'epoch_seconds=20%,accuracy=2pt,peak_memory=20%,gpu_mb=0.5', got 'lots'"
    )


def test_bare_value_without_a_relative_metric_is_refused() -> None:
    with pytest.raises(argparse.ArgumentTypeError) as info:
        parse_tolerances("20%", MetricRegistry([ACCURACY]))
    assert str(info.value) == (
        "expected a tolerance such as '20%' or a list such as 'accuracy=2pt', got '20%'"
    )


@pytest.mark.parametrize(
    ("text", "name", "hint"),
    [
        ("speed=10%", "speed", ""),
        ("epoch_secs=10%", "epoch_secs", " (did you mean 'epoch_seconds'?)"),
        ("epoch_seconds=10%,accuracyy=2pt", "accuracyy", " (did you mean 'accuracy'?)"),
        ("epoch=10%", "epoch", " (did you mean 'epoch_seconds'?)"),
    ],
)
def test_unknown_metric_names_say_what_is_known(text: str, name: str, hint: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError) as info:
        parse_tolerances(text, REGISTRY)
    assert str(info.value) == (
        f"expected metric names among epoch_seconds, accuracy, got {name!r}{hint}"
    )


@pytest.mark.parametrize(
    "text",
    ["epoch_seconds=10%,epoch_seconds=20%", "epoch_time=10%,epoch_seconds=20%"],
)
def test_a_metric_given_twice_is_refused(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError) as info:
        parse_tolerances(text, REGISTRY)
    assert str(info.value) == f"expected each metric once, got 'epoch_seconds' twice in {text!r}"


def test_bad_value_is_named() -> None:
    with pytest.raises(argparse.ArgumentTypeError) as info:
        parse_tolerances("epoch_seconds=20%,accuracy=2%", REGISTRY)
    assert str(info.value) == (
        "accuracy: expected a tolerance in absolute points such as '2pt' or '0.02' (a fraction "
        "below 1); '%' is ambiguous here (points or a share of the baseline?), so write 'pt' "
        "for percentage points, got '2%'"
    )
    with pytest.raises(argparse.ArgumentTypeError) as info:
        parse_tolerances("epoch_seconds=20", REGISTRY)
    assert str(info.value) == (
        "epoch_seconds: expected a relative tolerance such as '20%' or '0.2' (a fraction "
        "below 1 without '%'), got '20'"
    )


# --------------------------------------------------------------------------- settings


def test_known_settings() -> None:
    relative = "a relative tolerance such as '20%' or '0.2' (a fraction below 1 without '%')"
    assert known_settings(REGISTRY) == {
        "tolerance_epoch_seconds": f"tolerance of epoch_seconds: {relative}",
        "tolerance_epoch_time": (
            f"tolerance of epoch_seconds: {relative} (old name of tolerance_epoch_seconds)"
        ),
        "tolerance_images_per_second": (
            f"tolerance of epoch_seconds: {relative} (old name of tolerance_epoch_seconds)"
        ),
        "tolerance_accuracy": (
            "tolerance of accuracy: a tolerance in absolute points such as '2pt' or '0.02' "
            "(a fraction below 1)"
        ),
    }
    assert known_settings(CUSTOM)["tolerance_gpu_mb"] == (
        "tolerance of gpu_mb: a number above 0 in MB"
    )


def test_overrides_from_marker_settings() -> None:
    overrides = overrides_from_settings(
        {
            "tolerance_epoch_seconds": "40%",
            "tolerance_accuracy": "3pt",
            "repeats": 3,
            "tolerance_gpu_mb": None,
        },
        CUSTOM,
        source=SOURCE,
    )
    assert overrides.limits == pytest.approx({"epoch_seconds": 0.4, "accuracy": 0.03})


def test_overrides_from_numbers_and_aliases() -> None:
    overrides = overrides_from_settings(
        {"tolerance_images_per_second": 0.4, "tolerance_accuracy": 0.03, "tolerance_gpu_mb": 64},
        CUSTOM,
        source=SOURCE,
    )
    assert overrides.limits == pytest.approx(
        {"epoch_seconds": 0.4, "accuracy": 0.03, "gpu_mb": 64.0}
    )
    alias = overrides_from_settings({"tolerance_epoch_time": "40%"}, REGISTRY, source=SOURCE)
    assert alias == ToleranceOverrides({"epoch_seconds": 0.4})


@pytest.mark.parametrize(
    ("key", "value", "limit"),
    [
        ("tolerance_gpu_mb", 5e-05, 5e-05),
        ("tolerance_gpu_mb", 1e16, 1e16),
        ("tolerance_accuracy", 1e-05, 1e-05),
        ("tolerance_epoch_seconds", 0.1, 0.1),
    ],
)
def test_overrides_read_numbers_that_print_with_an_exponent(
    key: str, value: float, limit: float
) -> None:
    # str(5e-05) is '5e-05', which no tolerance parser reads: a valid number
    # in a marker must not be refused for how Python prints it.
    overrides = overrides_from_settings({key: value}, CUSTOM, source=SOURCE)
    assert overrides.limits == {key.removeprefix("tolerance_"): limit}


def test_overrides_name_a_non_finite_number() -> None:
    with pytest.raises(ValueError) as info:
        overrides_from_settings({"tolerance_gpu_mb": float("inf")}, CUSTOM, source=SOURCE)
    assert str(info.value) == (
        f"In {SOURCE}: tolerance_gpu_mb: expected an absolute tolerance in MB, a number above "
        "0 such as '0.5', got 'Infinity'"
    )


def test_overrides_ignore_other_and_unknown_settings() -> None:
    # Unknown tolerance_* keys are reported by the settings check, not here.
    overrides = overrides_from_settings(
        {"tolerance_speed": "10%", "epochs": 3, "tolerance_epoch_seconds": None},
        REGISTRY,
        source=SOURCE,
    )
    assert overrides == ToleranceOverrides({})


def test_overrides_refuse_a_name_and_its_alias_together() -> None:
    settings = {"tolerance_epoch_time": "20%", "tolerance_epoch_seconds": "30%"}
    with pytest.raises(ValueError) as info:
        overrides_from_settings(settings, REGISTRY, source=SOURCE)
    assert str(info.value) == (
        f"In {SOURCE}: Expected one tolerance setting per metric. Received: "
        "tolerance_epoch_time and tolerance_epoch_seconds, both for epoch_seconds"
    )


def test_an_unknown_metric_name_suggests_the_current_name_before_an_old_one() -> None:
    with pytest.raises(argparse.ArgumentTypeError) as info:
        parse_tolerances("epoch=10%", REGISTRY)
    assert "(did you mean 'epoch_seconds'?)" in str(info.value)


@pytest.mark.parametrize("value", [[0.2], True, {"x": 1}])
def test_overrides_reject_wrong_types(value: object) -> None:
    with pytest.raises(ValueError) as info:
        overrides_from_settings({"tolerance_epoch_seconds": value}, REGISTRY, source=SOURCE)
    assert str(info.value) == (
        f"In {SOURCE}: Expected tolerance_epoch_seconds to be a number or a string such as "
        f"'20%' or '2pt'. Received: tolerance_epoch_seconds={value!r}"
    )


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"tolerance_accuracy": "2%"},
            "In the marker: tolerance_accuracy: expected a tolerance in absolute points such "
            "as '2pt' or '0.02' (a fraction below 1); '%' is ambiguous here (points or a share "
            "of the baseline?), so write 'pt' for percentage points, got '2%'",
        ),
        (
            {"tolerance_accuracy": 1},
            "In the marker: tolerance_accuracy: expected a tolerance in absolute points such "
            "as '2pt' or '0.02' (a fraction below 1), got '1'",
        ),
        (
            {"tolerance_epoch_time": "20"},
            "In the marker: tolerance_epoch_time: expected a relative tolerance such as '20%' "
            "or '0.2' (a fraction below 1 without '%'), got '20'",
        ),
    ],
)
def test_overrides_reject_bad_values(settings: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError) as info:
        overrides_from_settings(settings, REGISTRY, source="the marker")
    assert str(info.value) == message


def test_overrides_reject_bad_absolute_value() -> None:
    with pytest.raises(ValueError) as info:
        overrides_from_settings({"tolerance_gpu_mb": "5%"}, CUSTOM, source="the ini file")
    assert str(info.value) == (
        "In the ini file: tolerance_gpu_mb: expected an absolute tolerance in MB, a number "
        "above 0 such as '0.5', got '5%'"
    )


# --------------------------------------------------------------------------- precedence


def test_precedence_defaults_ini_cli_marker() -> None:
    ini = ToleranceOverrides({"epoch_seconds": 0.4, "accuracy": 0.05})
    cli = ToleranceOverrides({"epoch_seconds": 0.3})
    marker = ToleranceOverrides({"epoch_seconds": 0.5})
    assert resolve_tolerances(REGISTRY, ini, cli, marker) == Tolerances(
        {"epoch_seconds": 0.5, "accuracy": 0.05}
    )
    assert resolve_tolerances(REGISTRY, ini, cli, None) == Tolerances(
        {"epoch_seconds": 0.3, "accuracy": 0.05}
    )
    assert resolve_tolerances(REGISTRY, ini, None, None) == Tolerances(
        {"epoch_seconds": 0.4, "accuracy": 0.05}
    )
    assert resolve_tolerances(REGISTRY) == Tolerances.defaults(REGISTRY)
    assert resolve_tolerances(REGISTRY, None, None, ToleranceOverrides()) == Tolerances(
        {"epoch_seconds": 0.25, "accuracy": 0.02}
    )


def test_precedence_from_parsed_layers() -> None:
    # The layers as the plugin builds them: ini and command line specs, then a marker.
    ini = parse_tolerances("40%", CUSTOM)
    cli = parse_tolerances("epoch_time=30%,gpu_mb=80", CUSTOM)
    marker = overrides_from_settings({"tolerance_epoch_seconds": "50%"}, CUSTOM, source=SOURCE)
    resolved = resolve_tolerances(CUSTOM, ini, cli, marker)
    assert resolved.limits == pytest.approx(
        {"epoch_seconds": 0.5, "accuracy": 0.02, "peak_memory": 0.4, "gpu_mb": 80.0}
    )
    assert resolved.rule(MEMORY).describe() == (
        "at most 1.4x the baseline, 40% worse (lower is better)"
    )
