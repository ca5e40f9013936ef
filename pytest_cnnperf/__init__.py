"""pytest-cnnperf: training-performance regression tests for Keras CNNs.

Importing this package is cheap: the decorators only record what a test
names; TensorFlow and Keras are imported when a test runs.

PYTEST_DONT_REWRITE: loaded in every pytest run, so pytest must not parse and
recompile it for assertion rewriting each time.
"""

from __future__ import annotations

from pytest_cnnperf.markers import by_profile, dataset, model

__all__ = ["by_profile", "dataset", "model"]
__version__ = "0.1.0"
