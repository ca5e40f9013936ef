"""Networks taken from ``keras.applications``, for comparison with published figures."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pytest_cnnperf.backends.imports import import_keras
from pytest_cnnperf.models.inputs import (
    InputShape,
    InputSupport,
    check_input_shape,
    check_num_classes,
)
from pytest_cnnperf.models.recipe import Recipe

if TYPE_CHECKING:
    import keras

__all__ = ["RESNET50_INPUTS", "RESNET50_RECIPE", "resnet50"]

#: keras.applications' own lower bound for ResNet50 is 32 pixels.
RESNET50_INPUTS = InputSupport(documented=((224, 224, 3),), min_side=32, channels=3)

#: No seed trains ResNet-50. This is the ImageNet recipe of He et al. 2016
#: (SGD, momentum 0.9, weight decay 1e-4, batch 256, learning rate 0.1) with
#: the fixed x0.1 steps at epochs 30 and 60 of a 90-epoch run that Goyal et
#: al. 2017 made the reference schedule.
RESNET50_RECIPE = Recipe(
    optimizer="SGD",
    learning_rate=0.1,
    batch_size=256,
    epochs=90,
    optimizer_options=(("momentum", 0.9), ("weight_decay", 1e-4)),
    lr_steps=((30, 0.1), (60, 0.01)),
    source=(
        "no seed trains ResNet-50; default chosen by this project: He et al. 2016 "
        "(SGD 0.1, momentum 0.9, weight decay 1e-4, batch 256) with Goyal et al. 2017's "
        "x0.1 steps at epochs 30 and 60 of 90"
    ),
)


def resnet50(input_shape: InputShape = (224, 224, 3), num_classes: int = 1000) -> keras.Model:
    """ResNet-50 from ``keras.applications``, untrained.

    Reference:
        - He, Zhang, Ren and Sun, "Deep residual learning for image
          recognition", CVPR 2016; seeds 000 and 001 cite it (seed 001
          builds ResNet20 instead, seed 003 surveys it).
        - ``keras.applications.ResNet50`` (Keras 3), called with
          ``weights=None``.

    The network is Keras' own, layer names included (``conv1_conv``,
    ``conv2_block1_1_conv``, ...), so images-per-second figures measured on
    it compare directly with published Keras/TensorFlow ResNet-50
    benchmarks. 25,636,712 parameters for 1000 classes. Only the input layer
    is named here (``"input"``) and the model is named ``"resnet50"``.

    Args:
        input_shape: ``(224, 224, 3)``, or any HxWx3 with H, W >= 32.
        num_classes: number of output classes.

    Returns:
        A ``keras.Model`` named ``"resnet50"``.
    """
    shape = check_input_shape("resnet50", input_shape, RESNET50_INPUTS)
    classes = check_num_classes("resnet50", num_classes)
    keras = import_keras()
    inputs = keras.Input(shape=shape, name="input")
    return keras.applications.ResNet50(
        weights=None, input_tensor=inputs, classes=classes, name="resnet50"
    )
