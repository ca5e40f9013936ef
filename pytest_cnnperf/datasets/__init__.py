"""Image-classification data sets, read from their distributed files.

`load(name, ...)` finds and reads MNIST, Fashion-MNIST, CIFAR-10/100, SVHN or
an ImageNet-style image folder, or generates `synthetic` data; with
`mode="auto"` synthetic data of the same shapes stand in for missing files.
`prepare` converts a loaded set to a model's input shape and scale, and
`training_pipeline` / `evaluation_pipeline` (the TensorFlow backend's `tf.data`
pipeline, `backends/tfdata.py`, re-exported here) feed it to Keras. TensorFlow
is imported only by the functions that need it.
"""

from __future__ import annotations

from pytest_cnnperf.backends.tfdata import evaluation_pipeline, training_pipeline
from pytest_cnnperf.datasets.core import (
    Dataset,
    DatasetCorrupt,
    DatasetError,
    DatasetNotFound,
    DatasetUsageError,
)
from pytest_cnnperf.datasets.loading import clear_cache, load, names
from pytest_cnnperf.datasets.prepare import prepare

__all__ = [
    "Dataset",
    "DatasetCorrupt",
    "DatasetError",
    "DatasetNotFound",
    "DatasetUsageError",
    "clear_cache",
    "evaluation_pipeline",
    "load",
    "names",
    "prepare",
    "training_pipeline",
]
