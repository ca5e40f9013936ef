"""Seed 001: five architectures on MNIST, Fashion-MNIST, CIFAR-10 and SVHN.

Seed 001 (Afif, *Benchmark Studies of Various Deep Learning Architecture*)
trained each of five networks for 10 epochs on four data sets on a GTX 960M
and reported the test accuracy of each pair (Table 4.1) and the time of the
10 epochs (Table 4.2: from 220 s for LeNet to 17,550 s for SqueezeNet on SVHN).
One test per pair, with ids such as ``lenet5_afif-mnist``.

GPU profile (``--cnnperf-gpu``): the standard splits, the recipes' batch size
128 and 10 passes (one warm-up plus nine measured epochs); each pair must
reach its Table 4.1 accuracy less ``GPU_MARGIN``, except ``vgg_like`` on SVHN,
which never trained in the document (0.067, below chance) and so is timed
but not held to an accuracy.

CPU profile (the default): 8,000 training and 500 test images carved from
each data set's test split (only MNIST is real on the development machine;
the others are synthetic stand-ins of the same shape unless their files are
present), one warm-up and one measured epoch, with steps capped for the heavy
networks (``CPU_PLANS``). Only ``lenet5_afif`` learns within that budget, so
only it is held to an accuracy on CPU (``CpuPlan.at_least``); the other
networks are timed:

- ``resnet20_v1`` and ``resnet20_v2`` fit their training batches within a
  hundred or so steps, but their held-out accuracy is computed with
  BatchNorm moving statistics (momentum 0.99) that are still mostly their
  initial values after so few steps, and stays near chance;
- ``squeezenet`` (about 2 s per step of 128 images on two cores) and
  ``vgg_like`` on synthetic images do not leave chance level in the steps a
  CPU run can afford;
- on real SVHN a briefly trained network commonly predicts the most frequent
  digit (19.6% of the test images), so no CPU floor is asked there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pytest_cnnperf
from pytest_cnnperf import by_profile

if TYPE_CHECKING:
    from pytest_cnnperf.building import ModelUnderTest
    from pytest_cnnperf.datasets import Dataset
    from pytest_cnnperf.runner import Runner

MODELS = ("lenet5_afif", "vgg_like", "resnet20_v1", "resnet20_v2", "squeezenet")
DATASETS = ("mnist", "fashion_mnist", "cifar10", "svhn")

#: Seed 001, Table 4.1: test accuracy after 10 epochs (None: not demanded).
REPORTED_ACCURACY: Mapping[str, Mapping[str, float | None]] = {
    "lenet5_afif": {"mnist": 0.9834, "fashion_mnist": 0.8816, "cifar10": 0.6561, "svhn": 0.809},
    # SVHN: 0.067, below chance: the document's network never trained there.
    "vgg_like": {"mnist": 0.9946, "fashion_mnist": 0.91, "cifar10": 0.4075, "svhn": None},
    "resnet20_v1": {"mnist": 0.9246, "fashion_mnist": 0.592, "cifar10": 0.7567, "svhn": 0.866},
    "resnet20_v2": {"mnist": 0.9222, "fashion_mnist": 0.8425, "cifar10": 0.679, "svhn": 0.893},
    "squeezenet": {"mnist": 0.9858, "fashion_mnist": 0.8813, "cifar10": 0.555, "svhn": 0.775},
}

#: The GPU floor is the reported accuracy less 3 points: the table holds one
#: run per pair, and its spread between similar networks (resnet20_v1 0.592
#: against resnet20_v2 0.8425 on Fashion-MNIST) shows how much one run varies.
GPU_MARGIN = 0.03


@dataclass(frozen=True)
class CpuPlan:
    """How a network trains in the CPU profile.

    Attributes:
        steps_per_epoch: cap on steps per epoch (None: the whole 8,000 images).
        at_least: accuracy floor by data set; a data set absent here is timed
            only. Each floor holds for real images and for the synthetic
            stand-in of the same shape.
    """

    steps_per_epoch: int | None
    at_least: Mapping[str, float] = field(default_factory=dict)


CPU_PLANS: Mapping[str, CpuPlan] = {
    # 2 x 63 steps of 128 images. Real MNIST gives about 0.92 and the 28x28
    # synthetic stand-in about 0.83, hence 0.7; Fashion-MNIST 0.6; CIFAR-10
    # twice chance, which the 32x32 stand-in clears at about 0.98.
    "lenet5_afif": CpuPlan(None, {"mnist": 0.7, "fashion_mnist": 0.6, "cifar10": 0.2}),
    "vgg_like": CpuPlan(4),
    "resnet20_v1": CpuPlan(4),
    "resnet20_v2": CpuPlan(4),
    "squeezenet": CpuPlan(2),
}


def gpu_at_least(model: str, dataset: str) -> float | None:
    """The GPU-profile floor of a pair: Table 4.1 less ``GPU_MARGIN``, or None."""
    reported = REPORTED_ACCURACY[model][dataset]
    return None if reported is None else round(reported - GPU_MARGIN, 4)


def at_least(profile: str, model: str, dataset: str) -> float | None:
    """The accuracy floor of a pair in ``profile``; None when the pair is only timed."""
    if profile == "gpu":
        return gpu_at_least(model, dataset)
    return CPU_PLANS[model].at_least.get(dataset)


@pytest_cnnperf.model(list(MODELS))
@pytest_cnnperf.dataset(
    list(DATASETS),
    train_size=by_profile(cpu=8000, gpu=None),
    test_size=by_profile(cpu=500, gpu=None),
    split=by_profile(cpu="test", gpu="standard"),
)
def test_architecture(
    cnnperf: Runner, cnnperf_model: ModelUnderTest, cnnperf_dataset: Dataset
) -> None:
    """One network of seed 001 on one data set, with the network's recipe."""
    plan = CPU_PLANS[cnnperf_model.name]
    result = cnnperf.train(
        cnnperf_model,
        cnnperf_dataset,
        epochs=by_profile(cpu=1, gpu=9),
        steps_per_epoch=by_profile(cpu=plan.steps_per_epoch, gpu=None),
    )
    floor = at_least(cnnperf.profile, cnnperf_model.name, cnnperf_dataset.name)
    if floor is not None:
        cnnperf.check_accuracy(result, at_least=floor)
