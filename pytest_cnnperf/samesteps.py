"""``--cnnperf-steps-from``: train each test for the steps another run trained it.

The timed windows are sized by time (``training.window_plan``: a window lasts
at least about 100 ms on CPU), so a faster backend or machine trains more
steps than a slower one, and their held-out accuracies are not taken at the
same point of training. Given the results file of another run, each test's
windows get that run's shape instead: as many windows of as many steps as
its first run had. A test the file does not hold, or holds without timed
windows (per-epoch timing), keeps its own plan: its epochs already fix its
steps. ``--cnnperf-backends`` passes the first backend's results to the others.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_cnnperf.plan import WindowPlan

if TYPE_CHECKING:
    from pytest_cnnperf.metrics import MetricRegistry
    from pytest_cnnperf.outcome import TestOutcome


def window_shape(outcome: TestOutcome) -> WindowPlan | None:
    """The shape of the first run's timed windows, or None without windows apart.

    Windows recorded as the measured epochs (per-epoch timing) are no shape:
    the epochs decide those steps.
    """
    if not outcome.runs:
        return None
    run = outcome.runs[0]
    if not run.windows or run.measured_epochs:
        return None
    return WindowPlan(steps=run.windows[0].steps, count=len(run.windows))


def shapes_from(path: Path, registry: MetricRegistry) -> Mapping[str, WindowPlan]:
    """Each test's window shape in the results file ``path``, by node id.

    Raises:
        jsonreport.ResultsError: the file cannot be read as a results file.
    """
    from pytest_cnnperf.jsonreport import load_results

    results = load_results(path, registry)
    shapes = {}
    for outcome in results.outcomes:
        shape = window_shape(outcome)
        if shape is not None:
            shapes[outcome.node_id] = shape
    return shapes
