"""The CNN of TensorFlow's MNIST tutorial, as seed 003 ran it."""

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

__all__ = ["TF_TUTORIAL_INPUTS", "TF_TUTORIAL_RECIPE", "tf_tutorial_cnn"]

#: Same-padded convolutions and pools work at any size.
TF_TUTORIAL_INPUTS = InputSupport(documented=((28, 28, 1),), min_side=1)

#: Seed 003, "Equivalent TensorFlow code to train LeNet": sparse softmax
#: cross-entropy on logits, GradientDescentOptimizer(learning_rate=0.001),
#: batch 100, 20,000 steps. 20,000 x 100 images = 33.3 passes over MNIST's
#: 60,000 training images; the recipe rounds to 33 epochs.
TF_TUTORIAL_RECIPE = Recipe(
    optimizer="SGD",
    learning_rate=0.001,
    batch_size=100,
    epochs=33,
    from_logits=True,
    source=(
        "seed 003, 'Equivalent TensorFlow code to train LeNet': SGD 0.001, batch 100, "
        "20,000 steps (33 epochs of 60,000 images), loss on logits"
    ),
)


def tf_tutorial_cnn(input_shape: InputShape = (28, 28, 1), num_classes: int = 10) -> keras.Model:
    """TensorFlow's MNIST tutorial CNN: two 5x5 convolutions and a 1024-unit layer.

    Reference:
        - Seed 003, "Equivalent TensorFlow code to train LeNet" and
          Illustration 12 (``mnist.py``, TensorFlow's layers API), which
          reports a 0.73% MNIST test error.

    Conv 32@5x5 same ReLU -> max pool 2 (same) -> conv 64@5x5 same ReLU ->
    max pool 2 (same) -> flatten -> dense 1024 ReLU -> dropout 0.4 -> dense
    with one linear output per class. 3,274,634 parameters at 28x28x1.

    The output is logits, as in the tutorial: the recipe sets
    ``from_logits=True``; apply a softmax to read probabilities.

    Args:
        input_shape: ``(28, 28, 1)``, or any HxWxC.
        num_classes: number of output classes.

    Returns:
        A ``keras.Model`` named ``"tf_tutorial_cnn"``.
    """
    shape = check_input_shape("tf_tutorial_cnn", input_shape, TF_TUTORIAL_INPUTS)
    classes = check_num_classes("tf_tutorial_cnn", num_classes)
    keras = import_keras()
    layers = keras.layers

    inputs = keras.Input(shape=shape, name="input")
    x = layers.Conv2D(32, 5, padding="same", activation="relu", name="conv1")(inputs)
    x = layers.MaxPooling2D(2, padding="same", name="pool1")(x)
    x = layers.Conv2D(64, 5, padding="same", activation="relu", name="conv2")(x)
    x = layers.MaxPooling2D(2, padding="same", name="pool2")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(1024, activation="relu", name="fc1")(x)
    x = layers.Dropout(0.4, name="fc1_dropout")(x)
    outputs = layers.Dense(classes, name="logits")(x)
    return keras.Model(inputs, outputs, name="tf_tutorial_cnn")
