"""Unit tests for robust summaries and the bootstrap interval (ratio and difference)."""

from __future__ import annotations

import pytest

from pytest_cnnperf.baselines import (
    ChangeInterval,
    SampleSummary,
    bootstrap_interval,
    mad,
    median,
    relative_mad,
)
from pytest_cnnperf.baselines.stats import MAD_SCALE


def test_median_of_odd_and_even_counts() -> None:
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert median([4.0, 1.0, 2.0, 3.0]) == 2.5


def test_median_of_nothing_is_an_error() -> None:
    with pytest.raises(ValueError) as info:
        median([])
    assert str(info.value) == (
        "Expected at least one sample to take the median of. Received: samples=[]"
    )


def test_mad_is_scaled_and_ignores_an_outlier() -> None:
    # Median 2.5; deviations 1.5, 0.5, 0.5, 97.5 -> median deviation 1.0.
    assert mad([1.0, 2.0, 3.0, 100.0]) == pytest.approx(MAD_SCALE * 1.0)
    # Median 2; deviations 0, 0, 1, 1, 98 -> median deviation 1: the outlier does not count.
    assert mad([1.0, 2.0, 3.0, 100.0, 2.0]) == pytest.approx(MAD_SCALE * 1.0)
    assert mad([1.0, 2.0, 3.0, 1e9, 2.0]) == pytest.approx(MAD_SCALE * 1.0)
    assert mad([5.0]) == 0.0


def test_relative_mad() -> None:
    assert relative_mad([9.0, 10.0, 11.0]) == pytest.approx(MAD_SCALE * 1.0 / 10.0)
    assert relative_mad([0.0, 0.0]) == 0.0


def test_sample_summary_of() -> None:
    summary = SampleSummary.of([1.0, 3.0, 2.0])
    assert summary == SampleSummary(
        center=2.0, spread=MAD_SCALE * 1.0, count=3, samples=(1.0, 3.0, 2.0)
    )


def test_bootstrap_of_identical_sets_is_centered_on_one() -> None:
    samples = [1.00, 1.03, 0.98, 1.01, 0.99]
    interval = bootstrap_interval(samples, samples, seed=1)
    assert interval.change == 1.0
    assert interval.low <= 1.0 <= interval.high
    assert not interval.low_confidence
    assert interval.resamples == 2000


def test_bootstrap_of_a_clear_slowdown_excludes_one() -> None:
    baseline = [1.00, 1.03, 0.98, 1.01, 0.99]
    current = [1.5 * x for x in baseline]
    interval = bootstrap_interval(current, baseline, seed=1)
    assert interval.change == pytest.approx(1.5)
    assert 1.4 < interval.low <= interval.change <= interval.high < 1.6


def test_bootstrap_of_constant_sets_is_exact() -> None:
    interval = bootstrap_interval([2.0, 2.0, 2.0], [1.0, 1.0], seed=3)
    assert (interval.low, interval.change, interval.high) == (2.0, 2.0, 2.0)


@pytest.mark.parametrize("relative", [True, False])
def test_bootstrap_is_deterministic_for_a_seed(relative: bool) -> None:
    baseline = [1.0, 1.2, 0.9, 1.1, 1.05, 0.95]
    current = [1.1, 1.4, 1.0, 1.2, 1.15, 1.3]
    first = bootstrap_interval(current, baseline, relative=relative, seed=7)
    again = bootstrap_interval(current, baseline, relative=relative, seed=7)
    assert first == again
    # The default seed is fixed too, so a verdict never depends on the run.
    assert bootstrap_interval(current, baseline, relative=relative) == bootstrap_interval(
        current, baseline, relative=relative
    )
    # Another seed draws other resamples: same change, other bounds.
    other = bootstrap_interval(current, baseline, relative=relative, seed=8)
    assert other.change == first.change
    assert (other.low, other.high) != (first.low, first.high)


def test_wider_confidence_gives_a_wider_interval() -> None:
    baseline = [1.0, 1.2, 0.9, 1.1, 1.05, 0.95]
    current = [1.1, 1.4, 1.0, 1.2, 1.15, 1.3]
    narrow = bootstrap_interval(current, baseline, confidence=0.5, seed=2)
    wide = bootstrap_interval(current, baseline, confidence=0.99, seed=2)
    assert wide.low <= narrow.low <= narrow.high <= wide.high
    assert wide.high - wide.low > narrow.high - narrow.low


def test_one_sample_falls_back_to_the_plain_ratio() -> None:
    interval = bootstrap_interval([3.0], [1.0, 2.0, 2.0])
    assert interval.low_confidence
    assert (interval.low, interval.change, interval.high) == (1.5, 1.5, 1.5)
    assert interval.resamples == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"confidence": 1.0},
            "Expected confidence to be between 0 and 1. Received: confidence=1.0",
        ),
        (
            {"confidence": 0.0},
            "Expected confidence to be between 0 and 1. Received: confidence=0.0",
        ),
        ({"resamples": 0}, "Expected resamples to be at least 1. Received: resamples=0"),
    ],
)
def test_bootstrap_rejects_bad_settings(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError) as info:
        bootstrap_interval([1.0, 2.0], [1.0, 2.0], **kwargs)  # type: ignore[arg-type]
    assert str(info.value) == message


def test_bootstrap_is_relative_by_default() -> None:
    current, baseline = [2.0, 2.2, 1.8], [1.0, 1.1, 0.9]
    assert bootstrap_interval(current, baseline, seed=1) == bootstrap_interval(
        current, baseline, relative=True, seed=1
    )
    assert bootstrap_interval(current, baseline, seed=1).change == pytest.approx(2.0)


def test_difference_of_identical_sets_is_centered_on_zero() -> None:
    samples = [0.97, 0.98, 0.96, 0.99, 0.975]
    interval = bootstrap_interval(samples, samples, relative=False, seed=1)
    assert interval.change == 0.0
    assert interval.low <= 0.0 <= interval.high
    assert not interval.low_confidence
    assert interval.resamples == 2000
    assert interval.confidence == 0.90


def test_difference_of_a_clear_drop_excludes_zero() -> None:
    baseline = [0.97, 0.98, 0.96, 0.99, 0.975]
    current = [x - 0.05 for x in baseline]
    interval = bootstrap_interval(current, baseline, relative=False, seed=1)
    assert interval.change == pytest.approx(-0.05)
    assert -0.08 < interval.low <= interval.change <= interval.high < -0.02


def test_difference_of_constant_sets_is_exact() -> None:
    interval = bootstrap_interval([2.0, 2.0, 2.0], [1.5, 1.5], relative=False, seed=3)
    assert interval == ChangeInterval(
        change=0.5, low=0.5, high=0.5, confidence=0.9, resamples=2000, low_confidence=False
    )


def test_difference_and_ratio_of_the_same_samples_differ() -> None:
    current, baseline = [3.0, 3.0, 3.0], [2.0, 2.0, 2.0]
    assert bootstrap_interval(current, baseline, seed=1).change == 1.5
    assert bootstrap_interval(current, baseline, relative=False, seed=1).change == 1.0


@pytest.mark.parametrize(
    ("current", "baseline"), [([0.9], [0.95, 0.97, 0.96]), ([0.9, 0.92], [0.96])]
)
def test_one_sample_falls_back_to_the_plain_difference(
    current: list[float], baseline: list[float]
) -> None:
    interval = bootstrap_interval(current, baseline, relative=False)
    expected = median(current) - median(baseline)
    assert interval == ChangeInterval(
        change=expected,
        low=expected,
        high=expected,
        confidence=0.9,
        resamples=0,
        low_confidence=True,
    )
