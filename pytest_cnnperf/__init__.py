"""pytest-cnnperf: training-performance regression tests for Keras CNNs."""
