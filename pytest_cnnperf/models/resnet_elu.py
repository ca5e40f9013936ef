"""The ELU residual classifier seed 000 designed for CIFAR-100."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pytest_cnnperf.backends.imports import import_keras
from pytest_cnnperf.models.inputs import (
    InputShape,
    InputSupport,
    check_input_shape,
    check_num_classes,
)
from pytest_cnnperf.models.recipe import Augmentation, Recipe

if TYPE_CHECKING:
    import keras

__all__ = ["RESNET_ELU_INPUTS", "RESNET_ELU_RECIPE", "resnet_elu_cifar100"]

#: Same-padded convolutions, 1x1 stride-2 convolutions and global pooling
#: work at any size.
RESNET_ELU_INPUTS = InputSupport(documented=((32, 32, 3),), min_side=1)

#: Seed 000, appendix E: Adam(lr=0.001), LearningRateScheduler returning the
#: rate x0.1 from (0-based) epoch 40, batch 128, 200 epochs, pixels / 255,
#: ImageDataGenerator with width/height shift 0.1 and horizontal flips.
RESNET_ELU_RECIPE = Recipe(
    optimizer="Adam",
    learning_rate=1e-3,
    batch_size=128,
    epochs=200,
    lr_steps=((40, 0.1),),
    augmentation=Augmentation(shift_fraction=0.1, horizontal_flip=True),
    source=(
        "seed 000, section 4.4 and appendix E: Adam 1e-3, x0.1 from epoch 40, batch "
        "128, 200 epochs, pixels / 255, shift 0.1 + horizontal flip"
    ),
)


def _bottleneck(
    x: keras.KerasTensor,
    filters: int,
    prefix: str,
    *,
    project: bool,
    dropout: float | None = None,
) -> keras.KerasTensor:
    layers = import_keras().layers
    strides = 2 if project else 1
    # The seed's conv block leaves the strided 1x1 convolutions at Keras'
    # default valid padding; for 1x1 kernels that equals "same".
    padding = "valid" if project else "same"
    y = layers.Conv2D(filters // 4, 1, strides=strides, padding=padding, name=f"{prefix}_1_conv")(x)
    y = layers.ELU(name=f"{prefix}_1_elu")(y)
    y = layers.Conv2D(filters // 4, 3, padding="same", name=f"{prefix}_2_conv")(y)
    y = layers.ELU(name=f"{prefix}_2_elu")(y)
    y = layers.Conv2D(filters, 1, padding="same", name=f"{prefix}_3_conv")(y)
    shortcut = x
    if project:
        shortcut = layers.Conv2D(filters, 1, strides=2, name=f"{prefix}_0_conv")(x)
    x = layers.Add(name=f"{prefix}_add")([y, shortcut])
    x = layers.ELU(name=f"{prefix}_out")(x)
    if dropout:
        x = layers.Dropout(dropout, name=f"{prefix}_dropout")(x)
    return x


def resnet_elu_cifar100(
    input_shape: InputShape = (32, 32, 3), num_classes: int = 100
) -> keras.Model:
    """Seed 000's residual image classifier with ELU units and global average pooling.

    Reference:
        - Seed 000 (Airola and Hager 2017), section 4.4 and appendix E
          ("Inspired by the ResNet architecture").
        - He et al., "Deep residual learning for image recognition", CVPR
          2016; Clevert, Unterthiner and Hochreiter, "Fast and accurate deep
          network learning by exponential linear units (ELUs)", ICLR 2016.

    Conv 64@3x3 same -> ELU -> conv 128@3x3 same -> ELU -> three stages
    (128, 256, 512 filters) of [conv block, identity block, identity block
    with dropout 0.25] -> global average pooling -> dense softmax. Blocks are
    bottlenecks: 1x1 (filters/4) -> 3x3 (filters/4) -> 1x1 (filters), ELU
    after each convolution and after the addition; the conv block strides
    its first 1x1 convolution by 2 and projects the shortcut with a stride-2
    1x1 convolution. No batch normalization. 1,367,844 parameters for 100
    classes.

    Choice: the listing is followed where the prose differs: section 4.4
    mentions dropout "in the initial convolutional layers", but appendix E
    has none there, only in the last block of each stage.

    Args:
        input_shape: ``(32, 32, 3)``, or any HxWxC.
        num_classes: number of output classes (100 for CIFAR-100's fine labels).

    Returns:
        A ``keras.Model`` named ``"resnet_elu_cifar100"``.
    """
    shape = check_input_shape("resnet_elu_cifar100", input_shape, RESNET_ELU_INPUTS)
    classes = check_num_classes("resnet_elu_cifar100", num_classes)
    keras = import_keras()
    layers = keras.layers

    inputs = keras.Input(shape=shape, name="input")
    x = layers.Conv2D(64, 3, padding="same", name="stem_conv1")(inputs)
    x = layers.ELU(name="stem_elu1")(x)
    x = layers.Conv2D(128, 3, padding="same", name="stem_conv2")(x)
    x = layers.ELU(name="stem_elu2")(x)
    for stage, filters in enumerate((128, 256, 512), start=1):
        x = _bottleneck(x, filters, f"stage{stage}_block1", project=True)
        x = _bottleneck(x, filters, f"stage{stage}_block2", project=False)
        x = _bottleneck(x, filters, f"stage{stage}_block3", project=False, dropout=0.25)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    outputs = layers.Dense(classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="resnet_elu_cifar100")
