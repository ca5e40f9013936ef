"""ResNet20 v1 and v2 as seed 001 built them from Keras' ``cifar10_resnet.py``."""

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
    from keras.layers import Layer

__all__ = ["RESNET20_INPUTS", "RESNET20_RECIPE", "resnet20_v1", "resnet20_v2"]

#: 32x32 images use the Conv-BN-ReLU stem; 28x28 images are zero-padded to
#: 32x32 by the seed's ``resnet_first_block``. AveragePooling2D(8) needs the
#: 8x8 maps that a 32x32 start gives after two stride-2 stages.
RESNET20_INPUTS = InputSupport(documented=((28, 28, 1), (32, 32, 3)), sides=(32, 28))

#: Seed 001, Listing A.3: Adam(lr_schedule(0)) = 1e-3; ``datagen.flow(...,
#: batch_size=128)`` (the unused ``batch_size = 32`` variable never reaches the
#: generator); 10 epochs; width/height shift 0.1 and horizontal flips; data
#: prepared as in Listings A.5-A.8, without scaling. The listing's step
#: schedule starts after epoch 80, so it never applies in 10 epochs; its
#: ReduceLROnPlateau callback (factor sqrt(0.1), patience 5) is not modelled.
RESNET20_RECIPE = Recipe(
    optimizer="Adam",
    learning_rate=1e-3,
    batch_size=128,
    epochs=10,
    input_scale="raw",
    augmentation=Augmentation(shift_fraction=0.1, horizontal_flip=True),
    source=(
        "seed 001, Listing A.3: Adam 1e-3, batch 128 (datagen.flow), 10 epochs, "
        "shift 0.1 + horizontal flip, raw 0..255 pixels (Listings A.5-A.8)"
    ),
)

_WEIGHT_DECAY = 1e-4


def _conv(filters: int, kernel_size: int, strides: int, name: str) -> Layer:
    keras = import_keras()
    return keras.layers.Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding="same",
        kernel_initializer="he_normal",
        kernel_regularizer=keras.regularizers.L2(_WEIGHT_DECAY),
        name=name,
    )


def _stem(inputs: keras.KerasTensor, shape: InputShape) -> keras.KerasTensor:
    layers = import_keras().layers
    if shape[:2] == (28, 28):
        # Seed 001's resnet_first_block: pad to 32x32, one convolution, no BN/ReLU.
        x = layers.ZeroPadding2D(padding=2, name="stem_pad")(inputs)
        return _conv(16, 3, 1, "stem_conv")(x)
    x = _conv(16, 3, 1, "stem_conv")(inputs)
    x = layers.BatchNormalization(name="stem_bn")(x)
    return layers.Activation("relu", name="stem_relu")(x)


def _head(x: keras.KerasTensor, inputs: keras.KerasTensor, classes: int, name: str) -> keras.Model:
    keras = import_keras()
    layers = keras.layers
    x = layers.AveragePooling2D(pool_size=8, name="avg_pool")(x)
    x = layers.Flatten(name="flatten")(x)
    outputs = layers.Dense(
        classes, activation="softmax", kernel_initializer="he_normal", name="predictions"
    )(x)
    return keras.Model(inputs, outputs, name=name)


def resnet20_v1(input_shape: InputShape = (28, 28, 1), num_classes: int = 10) -> keras.Model:
    """ResNet20 v1: three stages of three two-convolution residual blocks.

    Reference:
        - Seed 001, section 3.1.1 "ResNet V1" and Listing A.3 (Keras'
          ``examples/cifar10_resnet.py`` with n=3, version 1).
        - He, Zhang, Ren and Sun, "Deep residual learning for image
          recognition", CVPR 2016.

    Stem -> 3 stages x 3 blocks (16, 32, 64 filters) -> AveragePooling2D(8)
    -> flatten -> dense softmax. A block is conv 3x3-BN-ReLU -> conv 3x3-BN,
    added to the shortcut, then ReLU; the first block of stages 2 and 3
    strides by 2 and projects the shortcut with a 1x1 convolution (no BN).
    Convolutions use ``he_normal`` and L2 1e-4. 274,442 parameters at
    32x32x3 (1,376 non-trainable) and 274,090 at 28x28x1 (1,344).

    The stem follows the seed: 32x32 inputs get Keras' conv 3x3-BN-ReLU;
    28x28 inputs get ``resnet_first_block``: ZeroPadding2D(2) and a single
    convolution without BN or ReLU.

    Args:
        input_shape: ``(28, 28, 1)``, ``(32, 32, 3)``, or any 32x32xC or
            28x28xC.
        num_classes: number of output classes.

    Returns:
        A ``keras.Model`` named ``"resnet20_v1"``.
    """
    shape = check_input_shape("resnet20_v1", input_shape, RESNET20_INPUTS)
    classes = check_num_classes("resnet20_v1", num_classes)
    keras = import_keras()
    layers = keras.layers

    inputs = keras.Input(shape=shape, name="input")
    x = _stem(inputs, shape)
    filters = 16
    for stage in range(1, 4):
        for block in range(1, 4):
            prefix = f"stage{stage}_block{block}"
            strides = 2 if stage > 1 and block == 1 else 1
            y = _conv(filters, 3, strides, f"{prefix}_1_conv")(x)
            y = layers.BatchNormalization(name=f"{prefix}_1_bn")(y)
            y = layers.Activation("relu", name=f"{prefix}_1_relu")(y)
            y = _conv(filters, 3, 1, f"{prefix}_2_conv")(y)
            y = layers.BatchNormalization(name=f"{prefix}_2_bn")(y)
            if strides == 2:
                x = _conv(filters, 1, strides, f"{prefix}_0_conv")(x)
            x = layers.Add(name=f"{prefix}_add")([x, y])
            x = layers.Activation("relu", name=f"{prefix}_out")(x)
        filters *= 2
    return _head(x, inputs, classes, "resnet20_v1")


def resnet20_v2(input_shape: InputShape = (28, 28, 1), num_classes: int = 10) -> keras.Model:
    """ResNet20 v2: pre-activation bottleneck blocks, two per stage.

    Reference:
        - Seed 001, section 3.1.1 "ResNet V2" and Listing A.3 (Keras'
          ``examples/cifar10_resnet.py`` with n=2, version 2).
        - He, Zhang, Ren and Sun, "Identity mappings in deep residual
          networks", ECCV 2016.

    Stem -> 3 stages x 2 bottleneck blocks -> BN-ReLU -> AveragePooling2D(8)
    -> flatten -> dense softmax. A block is [BN-ReLU]-conv 1x1 -> BN-ReLU-
    conv 3x3 -> BN-ReLU-conv 1x1, added to the shortcut. The bottleneck
    width is the stage's input width (16, 64, 128) and the block output is
    64, 128, 256; the first block of each stage projects the shortcut with a
    1x1 convolution (stride 2 in stages 2 and 3). The very first block skips
    the leading BN-ReLU, because the stem already ends with one.
    574,090 parameters at 32x32x3 (3,488 non-trainable), 573,738 at 28x28x1
    (3,456).

    The stems are those of ``resnet20_v1``: conv-BN-ReLU for 32x32 inputs,
    ZeroPadding2D(2) and a bare convolution for 28x28 inputs (so at 28x28 the
    first block sees an un-normalized input, as in the seed).

    Args:
        input_shape: ``(28, 28, 1)``, ``(32, 32, 3)``, or any 32x32xC or
            28x28xC.
        num_classes: number of output classes.

    Returns:
        A ``keras.Model`` named ``"resnet20_v2"``.
    """
    shape = check_input_shape("resnet20_v2", input_shape, RESNET20_INPUTS)
    classes = check_num_classes("resnet20_v2", num_classes)
    keras = import_keras()
    layers = keras.layers

    inputs = keras.Input(shape=shape, name="input")
    x = _stem(inputs, shape)
    filters_in = 16
    for stage in range(1, 4):
        filters_out = filters_in * (4 if stage == 1 else 2)
        for block in range(1, 3):
            prefix = f"stage{stage}_block{block}"
            strides = 2 if stage > 1 and block == 1 else 1
            y = x
            if not (stage == 1 and block == 1):
                y = layers.BatchNormalization(name=f"{prefix}_preact_bn")(y)
                y = layers.Activation("relu", name=f"{prefix}_preact_relu")(y)
            y = _conv(filters_in, 1, strides, f"{prefix}_1_conv")(y)
            y = layers.BatchNormalization(name=f"{prefix}_2_bn")(y)
            y = layers.Activation("relu", name=f"{prefix}_2_relu")(y)
            y = _conv(filters_in, 3, 1, f"{prefix}_2_conv")(y)
            y = layers.BatchNormalization(name=f"{prefix}_3_bn")(y)
            y = layers.Activation("relu", name=f"{prefix}_3_relu")(y)
            y = _conv(filters_out, 1, 1, f"{prefix}_3_conv")(y)
            if block == 1:
                x = _conv(filters_out, 1, strides, f"{prefix}_0_conv")(x)
            x = layers.Add(name=f"{prefix}_add")([x, y])
        filters_in = filters_out
    x = layers.BatchNormalization(name="post_bn")(x)
    x = layers.Activation("relu", name="post_relu")(x)
    return _head(x, inputs, classes, "resnet20_v2")
