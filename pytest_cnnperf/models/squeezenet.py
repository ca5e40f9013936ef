"""SqueezeNet as seed 001 built it, and the same network with channel concatenation."""

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
    from keras.layers import Layer

__all__ = ["SQUEEZENET_INPUTS", "SQUEEZENET_RECIPE", "squeezenet", "squeezenet_fixed"]

#: A stride-2 valid 3x3 convolution and three 2x2 pools must leave the width
#: at least 1 (the height only grows in the documented variant).
SQUEEZENET_INPUTS = InputSupport(documented=((28, 28, 1), (32, 32, 3)), min_side=17)

#: Seed 001, Listing A.4: ``optimizer='adadelta'`` (learning rate 1.0 in
#: Keras 2.0/2.1), batch 128, 10 epochs, raw pixels.
SQUEEZENET_RECIPE = Recipe(
    optimizer="Adadelta",
    learning_rate=1.0,
    batch_size=128,
    epochs=10,
    input_scale="raw",
    source=(
        "seed 001, Listing A.4: Adadelta, batch 128, 10 epochs, raw 0..255 pixels; "
        "learning_rate=1.0 is what Keras 2.0/2.1 meant by 'adadelta' (Keras 3 "
        "defaults to 0.001)"
    ),
)

# (fire module number, squeeze filters, expand filters per branch)
_FIRES = (
    (2, 16, 64),
    (3, 16, 64),
    (4, 32, 128),
    (5, 32, 128),
    (6, 48, 192),
    (7, 48, 192),
    (8, 64, 256),
    (9, 64, 256),
)
# Max pooling follows conv1, fire4 and fire8.
_POOL_AFTER = (4, 8)


def _squeezenet(
    name: str, input_shape: InputShape, num_classes: int, concat_axis: int
) -> keras.Model:
    shape = check_input_shape(name, input_shape, SQUEEZENET_INPUTS)
    classes = check_num_classes(name, num_classes)
    keras = import_keras()
    layers = keras.layers

    def conv(filters: int, kernel: int, layer_name: str) -> Layer:
        return layers.Conv2D(filters, kernel, padding="same", activation="relu", name=layer_name)

    inputs = keras.Input(shape=shape, name="input")
    x = layers.Conv2D(96, 3, strides=2, padding="valid", activation="relu", name="conv1")(inputs)
    x = layers.MaxPooling2D(2, name="pool1")(x)
    for fire, squeeze, expand in _FIRES:
        prefix = f"fire{fire}"
        s = conv(squeeze, 1, f"{prefix}_squeeze1x1")(x)
        left = conv(expand, 1, f"{prefix}_expand1x1")(s)
        right = conv(expand, 3, f"{prefix}_expand3x3")(s)
        x = layers.Concatenate(axis=concat_axis, name=f"{prefix}_concat")([left, right])
        if fire in _POOL_AFTER:
            x = layers.MaxPooling2D(2, name=f"pool{fire}")(x)
    x = layers.Dropout(0.5, name="fire9_dropout")(x)
    x = layers.Conv2D(classes, 1, padding="valid", name="conv10")(x)
    x = layers.AveragePooling2D(13, strides=1, padding="same", name="pool10")(x)
    x = layers.Flatten(name="flatten")(x)
    outputs = layers.Dense(classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name=name)


def squeezenet(input_shape: InputShape = (28, 28, 1), num_classes: int = 10) -> keras.Model:
    """SqueezeNet exactly as seed 001 ran it, fire modules concatenating on axis 1.

    Reference:
        - Seed 001, section 3.1.1 "AlexNet/SqueezeNet", Figure 3.3 and
          Listing A.4 (adapted from a Keras SqueezeNet for MNIST).
        - Iandola et al., "SqueezeNet: AlexNet-level accuracy with 50x fewer
          parameters and <0.5MB model size", arXiv:1602.07360, 2016.

    Conv 96@3x3 stride 2 valid -> max pool 2 -> fire2..fire4 -> max pool 2 ->
    fire5..fire8 -> max pool 2 -> fire9 -> dropout 0.5 -> conv 1x1 (one
    filter per class, linear) -> average pool 13x13 stride 1 same -> flatten
    -> dense softmax. Fire modules squeeze with 1x1 convolutions and expand
    with parallel 1x1 and 3x3 branches (16/64, 16/64, 32/128, 32/128, 48/192,
    48/192, 64/256, 64/256); every convolution but conv10 uses ReLU;
    ``glorot_uniform`` (Keras' default) everywhere.

    The quirk this model keeps: the listing concatenates the two expand
    branches with ``concat_axis=1``, written for channels-first tensors. With
    channels-last tensors axis 1 is the image HEIGHT, so each fire module
    stacks its branches vertically, the height doubles at every fire module
    while the channels stay at one branch's width, and the final dense layer
    sees a tall feature map. That is the network behind the seed's results
    and its parameter counts: 711,956 at 28x28x1 and 720,084 at 32x32x3
    (10 classes). ``squeezenet_fixed`` concatenates channels instead.
    The listing's ``Activation("linear")`` after each merge is an identity
    and is left out.

    Args:
        input_shape: ``(28, 28, 1)``, ``(32, 32, 3)``, or any HxWxC with
            H, W >= 17.
        num_classes: number of output classes (conv10 filters and dense units).

    Returns:
        A ``keras.Model`` named ``"squeezenet"``.
    """
    return _squeezenet("squeezenet", input_shape, num_classes, concat_axis=1)


def squeezenet_fixed(input_shape: InputShape = (28, 28, 1), num_classes: int = 10) -> keras.Model:
    """Seed 001's SqueezeNet with fire modules concatenating channels, as intended.

    Reference:
        - Seed 001, Listing A.4, with the axis corrected for channels-last.
        - Iandola et al., "SqueezeNet: AlexNet-level accuracy with 50x fewer
          parameters and <0.5MB model size", arXiv:1602.07360, 2016.

    The layer stack of ``squeezenet`` with ``Concatenate(axis=-1)``: each fire
    module outputs twice the expand width in channels (128, 128, 256, 256,
    384, 384, 512, 512) at an unchanged height, as in the SqueezeNet paper.
    The seed's parameter counts do not apply; this variant has 727,416
    parameters at 28x28x1 and 729,144 at 32x32x3 (10 classes). Use it to see
    what the documented axis quirk costs or saves.

    Args:
        input_shape: ``(28, 28, 1)``, ``(32, 32, 3)``, or any HxWxC with
            H, W >= 17.
        num_classes: number of output classes (conv10 filters and dense units).

    Returns:
        A ``keras.Model`` named ``"squeezenet_fixed"``.
    """
    return _squeezenet("squeezenet_fixed", input_shape, num_classes, concat_axis=-1)
