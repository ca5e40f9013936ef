"""The model zoo: every network the source documents define or benchmark.

Look models up by name and build them::

    from pytest_cnnperf import models

    models.names()                     # ('alexnet', 'cifar10_benchmark_cnn', ...)
    model = models.build("lenet5", input_shape=(28, 28, 1))
    models.recipe("lenet5_afif")       # Recipe(optimizer='Adadelta', learning_rate=1.0, ...)
    models.info("squeezenet").source   # 'seed 001'

Importing this package does not import TensorFlow or Keras; building a
model does. ``docs/models.md`` tabulates the zoo.
"""

from __future__ import annotations

from pytest_cnnperf.models.recipe import Augmentation, Recipe
from pytest_cnnperf.models.registry import (
    ModelInfo,
    UnknownModelError,
    build,
    info,
    names,
    recipe,
)

__all__ = [
    "Augmentation",
    "ModelInfo",
    "Recipe",
    "UnknownModelError",
    "build",
    "info",
    "names",
    "recipe",
]
