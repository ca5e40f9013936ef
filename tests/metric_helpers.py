"""Metrics that tests declare, as a plugin would: one factory instead of copies."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pytest_cnnperf.metrics import Metric


def no_samples(outcome: object) -> Sequence[float]:
    """A reader for metrics whose samples the tests give directly."""
    return ()


def custom_metric(**changes: Any) -> Metric:
    """Peak memory in MB, relative, lower is better, read from nothing, unless changed."""
    values: dict[str, Any] = {
        "name": "peak_memory",
        "unit": "MB",
        "better": "lower",
        "relative": True,
        "default_tolerance": 0.1,
        "read": no_samples,
        "description": "peak device memory of the run",
    }
    values.update(changes)
    return Metric(**values)
