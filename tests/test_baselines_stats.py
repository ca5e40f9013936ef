"""Unit tests for robust summaries and the bootstrap ratio interval."""

from __future__ import annotations

import pytest

from pytest_cnnperf.baselines import (
    SampleSummary,
    bootstrap_ratio_interval,
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
    interval = bootstrap_ratio_interval(samples, samples, seed=1)
    assert interval.ratio == 1.0
    assert interval.low <= 1.0 <= interval.high
    assert not interval.low_confidence
    assert interval.resamples == 2000


def test_bootstrap_of_a_clear_slowdown_excludes_one() -> None:
    baseline = [1.00, 1.03, 0.98, 1.01, 0.99]
    current = [1.5 * x for x in baseline]
    interval = bootstrap_ratio_interval(current, baseline, seed=1)
    assert interval.ratio == pytest.approx(1.5)
    assert 1.4 < interval.low <= interval.ratio <= interval.high < 1.6


def test_bootstrap_of_constant_sets_is_exact() -> None:
    interval = bootstrap_ratio_interval([2.0, 2.0, 2.0], [1.0, 1.0], seed=3)
    assert (interval.low, interval.ratio, interval.high) == (2.0, 2.0, 2.0)


def test_bootstrap_is_deterministic_for_a_seed() -> None:
    baseline = [1.0, 1.2, 0.9, 1.1]
    current = [1.1, 1.4, 1.0, 1.2]
    first = bootstrap_ratio_interval(current, baseline, seed=7)
    again = bootstrap_ratio_interval(current, baseline, seed=7)
    assert first == again


def test_wider_confidence_gives_a_wider_interval() -> None:
    baseline = [1.0, 1.2, 0.9, 1.1, 1.05, 0.95]
    current = [1.1, 1.4, 1.0, 1.2, 1.15, 1.3]
    narrow = bootstrap_ratio_interval(current, baseline, confidence=0.5, seed=2)
    wide = bootstrap_ratio_interval(current, baseline, confidence=0.99, seed=2)
    assert wide.low <= narrow.low <= narrow.high <= wide.high
    assert wide.high - wide.low > narrow.high - narrow.low


def test_one_sample_falls_back_to_the_plain_ratio() -> None:
    interval = bootstrap_ratio_interval([3.0], [1.0, 2.0, 2.0])
    assert interval.low_confidence
    assert (interval.low, interval.ratio, interval.high) == (1.5, 1.5, 1.5)
    assert interval.resamples == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"confidence": 1.0},
            "Expected confidence to be between 0 and 1. Received: confidence=1.0",
        ),
        ({"resamples": 0}, "Expected resamples to be at least 1. Received: resamples=0"),
    ],
)
def test_bootstrap_rejects_bad_settings(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError) as info:
        bootstrap_ratio_interval([1.0, 2.0], [1.0, 2.0], **kwargs)  # type: ignore[arg-type]
    assert str(info.value) == message
