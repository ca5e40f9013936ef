"""Seed 003: LeNet-5 and the TensorFlow tutorial CNN on MNIST.

Seed 003 (*2017: Overview of state-of-art of computer vision*) retells LeNet-5
(LeCun et al. 1998: 0.8% test error after 10 to 12 passes) and trains the
TensorFlow tutorial network with SGD 0.001, batch 100, for 20,000 steps,
reporting a 0.73% test error for a TensorFlow run.

CPU profile (the default): both networks train on 8,000 images carved from
the real MNIST test split and are evaluated on 2,000 others, so that only the
10,000-image test files are needed. GPU profile (``--cnnperf-gpu``): the
standard 60,000/10,000 split and the documented number of passes.

Every test here trains for one warm-up epoch (timed, kept out of the median)
plus ``epochs`` measured ones; in the GPU profile the two add up to the
documented number of passes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest_cnnperf
from pytest_cnnperf import by_profile

if TYPE_CHECKING:
    from pytest_cnnperf.building import ModelUnderTest
    from pytest_cnnperf.datasets import Dataset
    from pytest_cnnperf.runner import Runner

MNIST = pytest_cnnperf.dataset(
    "mnist",
    train_size=by_profile(cpu=8000, gpu=None),
    test_size=by_profile(cpu=2000, gpu=None),
    split=by_profile(cpu="test", gpu="standard"),
)


@pytest_cnnperf.model("lenet5")
@MNIST
def test_lenet5(cnnperf: Runner, cnnperf_model: ModelUnderTest, cnnperf_dataset: Dataset) -> None:
    """LeNet-5 with its recipe (Adam 1e-3, batch 128).

    GPU: 12 passes over 60,000 images (the paper's 10 to 12), at least 98.5%
    accuracy: the paper's 0.8% and seed 003's 0.73% test error with a margin
    of about one error in 140. CPU: 3 passes over 8,000 real digits; 85% is
    well above chance (10%) and below what LeNet-5 reaches there, on real
    digits or on the synthetic stand-in used when the MNIST files are missing.
    """
    result = cnnperf.train(cnnperf_model, cnnperf_dataset, epochs=by_profile(cpu=2, gpu=11))
    cnnperf.check_accuracy(result, at_least=by_profile(cpu=0.85, gpu=0.985))


@pytest_cnnperf.model("tf_tutorial_cnn")
@MNIST
def test_tf_tutorial_cnn(
    cnnperf: Runner, cnnperf_model: ModelUnderTest, cnnperf_dataset: Dataset
) -> None:
    """The TensorFlow tutorial CNN with its recipe (SGD 0.001, batch 100).

    GPU: the tutorial's 20,000 steps, 33 passes over 60,000 images, at least
    95% accuracy. Seed 003's 0.73% error (99.27%) is not demanded: the seed
    gives it for "LeNet run using TensorFlow" without saying which recipe, and
    plain SGD at 0.001 is still climbing after 20,000 steps. CPU: plain SGD at
    0.001 barely moves in a few hundred steps (the loss falls from 2.30 to
    about 2.26 in 400), so the CPU profile trains 5 passes (400 steps) and
    asks only that the network left chance level (10%) behind: 15%.
    """
    result = cnnperf.train(cnnperf_model, cnnperf_dataset, epochs=by_profile(cpu=4, gpu=32))
    cnnperf.check_accuracy(result, at_least=by_profile(cpu=0.15, gpu=0.95))
