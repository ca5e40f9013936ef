"""Seed 004: the CIFAR-10 BatchNorm network and its learning-rate sweep.

Seed 004 (Schnack, *Image classification of CIFAR-10 with Deep Learning using
TensorFlow*, TU Munich, 2022) trains ``cifar10_bn_cnn`` (random flips and
rotations inside the model, four conv-BN blocks, 1.3M parameters) with Adam
and early stopping on the validation loss, and reports the best test accuracy
for seven learning rates (Table 1): from 0.83 at 0.0005 to 0.5978 at 0.05,
stopping after 34 to 74 epochs.

``test_cifar10_bn_cnn`` times the recipe (Adam 0.001, batch 32) for a fixed
number of epochs, so that epoch times compare from run to run.
``test_learning_rate_sweep`` repeats Table 1 with early stopping: one test
per rate, with ids ``lr0.0005`` ... ``lr0.05``.

GPU profile (``--cnnperf-gpu``): the standard 50,000/10,000 split; the sweep
holds 10% of the training images out for early stopping (patience 10, at
most 100 epochs) and must reach Table 1's accuracy less ``GPU_MARGIN`` for
that rate. CPU profile (the default): subsets of the test split (synthetic
unless the CIFAR-10 files are present). BatchNorm's moving statistics
(momentum 0.99) need a few hundred steps before held-out accuracy means
anything, so the recipe test trains 300 steps and is held to 20% (twice
chance); the sweep trains each rate on 1,000 images without an accuracy
floor and without early stopping (a CPU run is far shorter than the patience
of 10 epochs), so that its measured passes are timed as windows.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import pytest

import pytest_cnnperf
from pytest_cnnperf import by_profile

if TYPE_CHECKING:
    from pytest_cnnperf.building import ModelUnderTest
    from pytest_cnnperf.datasets import Dataset
    from pytest_cnnperf.runner import Runner

#: Seed 004, Table 1: best test accuracy by learning rate (epochs until early stopping).
REPORTED_BEST_ACCURACY: Mapping[float, float] = {
    0.0005: 0.83,  # 43 epochs
    0.001: 0.8436,  # 48
    0.002: 0.8431,  # 57
    0.005: 0.8378,  # 61
    0.01: 0.8404,  # 74
    0.025: 0.7331,  # 43
    0.05: 0.5978,  # 34
}
#: Three points below each reported figure (one run per rate). The two
#: highest rates get ten: their runs stopped early on a falling curve, and at
#: such rates Adam can collapse to a constant prediction in one run and not
#: in the next.
GPU_MARGIN: Mapping[float, float] = {
    rate: (0.10 if rate >= 0.025 else 0.03) for rate in REPORTED_BEST_ACCURACY
}


def sweep_at_least(learning_rate: float) -> float:
    """The GPU-profile floor for one rate of the sweep."""
    return round(REPORTED_BEST_ACCURACY[learning_rate] - GPU_MARGIN[learning_rate], 4)


@pytest_cnnperf.model("cifar10_bn_cnn")
@pytest_cnnperf.dataset(
    "cifar10",
    train_size=by_profile(cpu=3200, gpu=None),
    test_size=by_profile(cpu=500, gpu=None),
    split=by_profile(cpu="test", gpu="standard"),
)
def test_cifar10_bn_cnn(
    cnnperf: Runner, cnnperf_model: ModelUnderTest, cnnperf_dataset: Dataset
) -> None:
    """The recipe (Adam 0.001, batch 32) for a fixed number of epochs.

    GPU: 11 passes, at least 70%: a floor chosen below the 84.36% the
    document reached at this rate after 48 epochs. CPU: 3 passes over 3,200
    images (300 steps), at least 20%.
    """
    result = cnnperf.train(cnnperf_model, cnnperf_dataset, epochs=by_profile(cpu=2, gpu=10))
    cnnperf.check_accuracy(result, at_least=by_profile(cpu=0.2, gpu=0.7))


@pytest_cnnperf.model("cifar10_bn_cnn")
@pytest.mark.parametrize(
    "learning_rate", list(REPORTED_BEST_ACCURACY), ids=lambda rate: f"lr{rate:g}"
)
@pytest_cnnperf.dataset(
    "cifar10",
    train_size=by_profile(cpu=1000, gpu=None),
    test_size=by_profile(cpu=200, gpu=None),
    split=by_profile(cpu="test", gpu="standard"),
)
def test_learning_rate_sweep(
    cnnperf: Runner,
    cnnperf_model: ModelUnderTest,
    cnnperf_dataset: Dataset,
    learning_rate: float,
) -> None:
    """One rate of Table 1; on GPU trained with early stopping on the validation loss."""
    result = cnnperf.train(
        cnnperf_model,
        cnnperf_dataset,
        learning_rate=learning_rate,
        # Early stopping times whole epochs; the CPU profile's short run
        # cannot reach the patience, so it is timed in windows instead.
        early_stopping=by_profile(cpu=False, gpu=True),
        # At most 100 epochs on GPU (the recipe's cap); patience is the recipe's 10.
        epochs=by_profile(cpu=1, gpu=99),
    )
    if cnnperf.profile == "gpu":
        cnnperf.check_accuracy(result, at_least=sweep_at_least(learning_rate))
