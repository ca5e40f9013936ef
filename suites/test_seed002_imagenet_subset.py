"""Seed 002: AlexNet at batch 64 and 128, VGG-11 at batch 12, on ten ImageNet classes.

Seed 002 (Imran, *Per Layer Time Computation of CNN Training with
TensorFlow*, Politecnico di Milano, 2018) trained AlexNet, with BatchNorm after
each 4096-unit layer, at batch sizes 64 and 128, and VGG-11 at batch 12 (what
fitted its GPUs), on ten ILSVRC classes, and timed each layer's forward and
backward pass. It reports times, no accuracy and no epoch count.

The data set is an ``image_folder``: ``DIR/image_folder/train/<class>/*.JPEG``
and ``DIR/image_folder/val/<class>/...`` with ten class folders, where DIR is
``--cnnperf-data-dir`` (or ``root=`` names the folder). Images are resized
to 227x227 for AlexNet and 224x224 for VGG-11, the sizes the networks are
documented at.

Per-layer timing, the point of seed 002, is on by default (docs/layers.md):
after a run's timed windows a few more training steps are profiled, a table
gives each layer's forward, backward and optimizer time and how much of the
step they explain, and a regression names the layers that grew. The window
may add 8% of the run's wall time. In the GPU profile a run trains the whole
folder for ten passes of about a hundred steps or more, so by the budget's
rule the full window fits (not measured on a GPU here). In the CPU profile a
run is a few steps of several seconds on two cores: in one run of the CPU
profile (docs/layers.md) the AlexNet at batch 64 and VGG-11 were profiled for
one step each, and the AlexNet at batch 128 printed why it was skipped (a
10.2 s step, more than 8% of its run) and how to force it. ``layer_steps=3``
on a test (``@pytest.mark.cnnperf(layer_steps=3)``) profiles three steps
whatever they cost.

The learning rate follows the linear scaling rule (Goyal et al. 2017): the
recipe's rate times batch size over the recipe's batch size, so AlexNet
trains at 0.005 (batch 64) and 0.01 (batch 128), and VGG-11 at batch 12 at
0.01 x 12 / 256, not at the rate meant for batch 256. Seed 002 gives no rate.

GPU profile (``--cnnperf-gpu``): the whole folder (an ILSVRC class has about
1,300 training and 50 validation images), 10 passes (this project's choice),
and a floor of 25% accuracy, two and a half times chance over ten classes:
a check that the network learned, since the document reports no accuracy.
CPU profile (the default): the documented image sizes with two epochs of one
or two steps, on synthetic images unless the folder is present; 58 and 129
million parameters cannot learn anything in a few steps, so the CPU profile
times the steps and checks no accuracy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

import pytest_cnnperf
from pytest_cnnperf import by_profile, models

if TYPE_CHECKING:
    from pytest_cnnperf.building import ModelUnderTest
    from pytest_cnnperf.datasets import Dataset
    from pytest_cnnperf.results import TrainResult
    from pytest_cnnperf.runner import Runner

#: GPU floor: 2.5 times chance over ten classes (the document reports no accuracy).
GPU_AT_LEAST = 0.25


def scaled_learning_rate(model: str, batch_size: int) -> float:
    """The recipe's learning rate scaled linearly from its batch size to ``batch_size``."""
    recipe = models.recipe(model)
    return recipe.learning_rate * batch_size / recipe.batch_size


def check_learned(cnnperf: Runner, result: TrainResult) -> None:
    """Hold the GPU profile to ``GPU_AT_LEAST``; the CPU profile only times."""
    if cnnperf.profile == "gpu":
        cnnperf.check_accuracy(result, at_least=GPU_AT_LEAST)


@pytest.mark.large_model
@pytest_cnnperf.model("alexnet", model_options={"batch_norm": True})
@pytest.mark.parametrize("batch_size", [64, 128], ids=["batch64", "batch128"])
@pytest_cnnperf.dataset(
    "image_folder",
    image_size=227,
    num_classes=10,
    train_size=by_profile(cpu=256, gpu=None),
    test_size=by_profile(cpu=20, gpu=None),
)
def test_alexnet(
    cnnperf: Runner, cnnperf_model: ModelUnderTest, cnnperf_dataset: Dataset, batch_size: int
) -> None:
    """AlexNet with BatchNorm after each 4096 layer, at seed 002's two batch sizes.

    CPU: 2 steps per epoch (one step of AlexNet at batch 128 takes seconds).
    """
    result = cnnperf.train(
        cnnperf_model,
        cnnperf_dataset,
        batch_size=batch_size,
        learning_rate=scaled_learning_rate("alexnet", batch_size),
        epochs=by_profile(cpu=1, gpu=9),
        steps_per_epoch=by_profile(cpu=2, gpu=None),
    )
    check_learned(cnnperf, result)


@pytest.mark.large_model
@pytest_cnnperf.model("vgg11")
@pytest_cnnperf.dataset(
    "image_folder",
    image_size=224,
    num_classes=10,
    train_size=by_profile(cpu=48, gpu=None),
    test_size=by_profile(cpu=20, gpu=None),
)
def test_vgg11(cnnperf: Runner, cnnperf_model: ModelUnderTest, cnnperf_dataset: Dataset) -> None:
    """VGG-11 (configuration A) at seed 002's batch 12.

    CPU: 2 steps per epoch.
    """
    result = cnnperf.train(
        cnnperf_model,
        cnnperf_dataset,
        batch_size=12,
        learning_rate=scaled_learning_rate("vgg11", 12),
        epochs=by_profile(cpu=1, gpu=9),
        steps_per_epoch=by_profile(cpu=2, gpu=None),
    )
    check_learned(cnnperf, result)
