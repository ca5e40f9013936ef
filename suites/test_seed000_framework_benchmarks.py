"""Seed 000: the framework-comparison networks and the ELU ResNet for CIFAR-100.

Seed 000 (Airola and Hager, Karlstad University, 2017) timed Keras 2.0.2 on
TensorFlow 1.0.1 against CNTK on a Quadro K2100M: five runs of 20 epochs of
``mnist_benchmark_cnn`` on MNIST (Table 5.2: mean epoch 22.3 s) and five runs
of 40 epochs of ``cifar10_benchmark_cnn`` on CIFAR-10 (Table 5.4: 93.5 s), and
trained ``resnet_elu_cifar100`` for 200 epochs to about 60% test accuracy on
CIFAR-100. The document reports epoch times, not accuracies, for the two
benchmark networks; their accuracy floors here are this project's choice.

CPU profile (the default): subsets carved from each data set's test split
and capped steps; MNIST is real here, CIFAR-10 and CIFAR-100 are synthetic
stand-ins unless their files are present. GPU profile (``--cnnperf-gpu``): the
full standard splits, the documented batch sizes, epochs and five repeats.

Every test trains for one warm-up epoch (timed, kept out of the median) plus
``epochs`` measured ones; in the GPU profile the two add up to the documented
number of passes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest_cnnperf
from pytest_cnnperf import by_profile

if TYPE_CHECKING:
    from pytest_cnnperf.building import ModelUnderTest
    from pytest_cnnperf.datasets import Dataset
    from pytest_cnnperf.runner import Runner


@pytest_cnnperf.model("mnist_benchmark_cnn")
@pytest_cnnperf.dataset(
    "mnist",
    train_size=by_profile(cpu=8000, gpu=None),
    test_size=by_profile(cpu=2000, gpu=None),
    split=by_profile(cpu="test", gpu="standard"),
)
def test_mnist_benchmark_cnn(
    cnnperf: Runner, cnnperf_model: ModelUnderTest, cnnperf_dataset: Dataset
) -> None:
    """The MNIST network of seed 000's appendix A (Adagrad 0.01, batch 128).

    GPU: five runs of 20 passes, as Table 5.2; at least 98%, a floor chosen
    below what this network reaches on MNIST (the document reports time only).
    CPU: 2 passes over 8,000 digits; at least 85%.
    """
    result = cnnperf.train(
        cnnperf_model,
        cnnperf_dataset,
        epochs=by_profile(cpu=1, gpu=19),
        repeats=by_profile(cpu=None, gpu=5),
    )
    cnnperf.check_accuracy(result, at_least=by_profile(cpu=0.85, gpu=0.98))


@pytest_cnnperf.model("cifar10_benchmark_cnn")
@pytest_cnnperf.dataset(
    "cifar10",
    train_size=by_profile(cpu=4000, gpu=None),
    test_size=by_profile(cpu=500, gpu=None),
    split=by_profile(cpu="test", gpu="standard"),
)
def test_cifar10_benchmark_cnn(
    cnnperf: Runner, cnnperf_model: ModelUnderTest, cnnperf_dataset: Dataset
) -> None:
    """The CIFAR-10 network of seed 000's appendix C (RMSprop 1e-4, batch 32).

    GPU: five runs of 40 passes, as Table 5.4; at least 65%, a floor chosen
    well below what this network reaches in 40 epochs (the document reports
    time only). CPU: 2 passes over 4,000 images (250 steps); at least 20%,
    twice chance, which the synthetic stand-in clears by far and real CIFAR-10
    images should clear after 250 steps.
    """
    result = cnnperf.train(
        cnnperf_model,
        cnnperf_dataset,
        epochs=by_profile(cpu=1, gpu=39),
        repeats=by_profile(cpu=None, gpu=5),
    )
    cnnperf.check_accuracy(result, at_least=by_profile(cpu=0.2, gpu=0.65))


@pytest_cnnperf.model("resnet_elu_cifar100")
@pytest_cnnperf.dataset(
    "cifar100",
    train_size=by_profile(cpu=1280, gpu=None),
    test_size=by_profile(cpu=500, gpu=None),
    split=by_profile(cpu="test", gpu="standard"),
)
def test_resnet_elu_cifar100(
    cnnperf: Runner, cnnperf_model: ModelUnderTest, cnnperf_dataset: Dataset
) -> None:
    """The ELU ResNet of seed 000's appendix E (Adam 1e-3, x0.1 from epoch 40).

    GPU: 200 passes with shift and flip augmentation, at least 55% (the
    document's "around 60 percent" less a margin). CPU: timing only, 2 epochs
    of 5 steps. With 100 classes the network needs about 80 steps of 128
    images (over a minute on two CPU cores) to leave chance level (1%), so
    the CPU profile demands no accuracy.
    """
    result = cnnperf.train(
        cnnperf_model,
        cnnperf_dataset,
        epochs=by_profile(cpu=1, gpu=199),
        steps_per_epoch=by_profile(cpu=5, gpu=None),
    )
    if cnnperf.profile == "gpu":
        cnnperf.check_accuracy(result, at_least=0.55)
