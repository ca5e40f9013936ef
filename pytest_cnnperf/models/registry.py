"""The model zoo's registry: one name per documented network.

The registry maps each name to its builder, recipe and description. It
imports the builder modules, which import Keras only when a builder runs, so
looking names up or reading recipes costs no TensorFlow import.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pytest_cnnperf.models import (
    alexnet,
    applications,
    benchmark_nets,
    cifar10_bn,
    lenet,
    resnet_cifar,
    resnet_elu,
    squeezenet,
    tutorial,
    vgg,
)
from pytest_cnnperf.models.inputs import InputShape, InputSupport
from pytest_cnnperf.models.recipe import Recipe

if TYPE_CHECKING:
    import keras

__all__ = ["ModelInfo", "UnknownModelError", "build", "info", "names", "recipe"]

Builder = Callable[..., "keras.Model"]


@dataclass(frozen=True)
class ModelInfo:
    """What the registry knows about one model.

    Attributes:
        name: the registry name, also the Keras model name.
        source: the source documents, e.g. ``"seed 001"``.
        default_input_shape: ``(height, width, channels)`` used when none is given.
        default_num_classes: class count used when none is given.
        module: the module holding the builder.
        summary: one line describing the network.
        recipe: the documented training recipe.
        supported_input_shapes: the input shapes the builder accepts, in words.
        options: the builder's keyword options besides ``input_shape`` and
            ``num_classes``.
    """

    name: str
    source: str
    default_input_shape: InputShape
    default_num_classes: int
    module: str
    summary: str
    recipe: Recipe
    supported_input_shapes: str
    options: tuple[str, ...]


class UnknownModelError(KeyError, ValueError):
    """A model name that is not in the registry.

    A ``KeyError`` (it is a failed lookup) and a ``ValueError`` (it is a bad
    argument), whose text is the plain message rather than its ``repr``.
    """

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class _Entry:
    builder: Builder
    info: ModelInfo


def _entry(builder: Builder, source: str, recipe: Recipe, inputs: InputSupport) -> _Entry:
    parameters = inspect.signature(builder).parameters
    doc = inspect.getdoc(builder) or ""
    options = tuple(
        name for name, parameter in parameters.items() if parameter.kind is parameter.KEYWORD_ONLY
    )
    model_info = ModelInfo(
        name=builder.__name__,
        source=source,
        default_input_shape=parameters["input_shape"].default,
        default_num_classes=parameters["num_classes"].default,
        module=builder.__module__,
        summary=doc.splitlines()[0] if doc else "",
        recipe=recipe,
        supported_input_shapes=inputs.describe(),
        options=options,
    )
    return _Entry(builder, model_info)


_ENTRIES: dict[str, _Entry] = {
    entry.info.name: entry
    for entry in (
        _entry(lenet.lenet5, "seed 003, seed 001", lenet.LENET5_RECIPE, lenet.LENET5_INPUTS),
        _entry(lenet.lenet5_afif, "seed 001", lenet.LENET5_AFIF_RECIPE, lenet.LENET5_AFIF_INPUTS),
        _entry(vgg.vgg_like, "seed 001", vgg.VGG_LIKE_RECIPE, vgg.VGG_LIKE_INPUTS),
        _entry(
            resnet_cifar.resnet20_v1,
            "seed 001",
            resnet_cifar.RESNET20_RECIPE,
            resnet_cifar.RESNET20_INPUTS,
        ),
        _entry(
            resnet_cifar.resnet20_v2,
            "seed 001",
            resnet_cifar.RESNET20_RECIPE,
            resnet_cifar.RESNET20_INPUTS,
        ),
        _entry(
            squeezenet.squeezenet,
            "seed 001",
            squeezenet.SQUEEZENET_RECIPE,
            squeezenet.SQUEEZENET_INPUTS,
        ),
        _entry(
            squeezenet.squeezenet_fixed,
            "seed 001 (axis corrected)",
            squeezenet.SQUEEZENET_RECIPE,
            squeezenet.SQUEEZENET_INPUTS,
        ),
        _entry(
            benchmark_nets.mnist_benchmark_cnn,
            "seed 000",
            benchmark_nets.MNIST_BENCHMARK_RECIPE,
            benchmark_nets.MNIST_BENCHMARK_INPUTS,
        ),
        _entry(
            benchmark_nets.cifar10_benchmark_cnn,
            "seed 000",
            benchmark_nets.CIFAR10_BENCHMARK_RECIPE,
            benchmark_nets.CIFAR10_BENCHMARK_INPUTS,
        ),
        _entry(
            resnet_elu.resnet_elu_cifar100,
            "seed 000",
            resnet_elu.RESNET_ELU_RECIPE,
            resnet_elu.RESNET_ELU_INPUTS,
        ),
        _entry(
            tutorial.tf_tutorial_cnn,
            "seed 003",
            tutorial.TF_TUTORIAL_RECIPE,
            tutorial.TF_TUTORIAL_INPUTS,
        ),
        _entry(
            alexnet.alexnet, "seed 002, seed 003", alexnet.ALEXNET_RECIPE, alexnet.ALEXNET_INPUTS
        ),
        _entry(vgg.vgg11, "seed 002, seed 001", vgg.VGG_RECIPE, vgg.VGG_INPUTS),
        _entry(vgg.vgg16, "seed 001, seed 003", vgg.VGG_RECIPE, vgg.VGG_INPUTS),
        _entry(
            cifar10_bn.cifar10_bn_cnn,
            "seed 004",
            cifar10_bn.CIFAR10_BN_RECIPE,
            cifar10_bn.CIFAR10_BN_INPUTS,
        ),
        _entry(
            applications.resnet50,
            "keras.applications (He et al. 2016)",
            applications.RESNET50_RECIPE,
            applications.RESNET50_INPUTS,
        ),
    )
}


def names() -> tuple[str, ...]:
    """Return the registered model names, sorted."""
    return tuple(sorted(_ENTRIES))


def _close_matches(name: str, known: tuple[str, ...]) -> list[str]:
    """The known names most similar to ``name``, ignoring case.

    Only the names scoring within 0.05 of the best are kept, so that
    "lenet" suggests "lenet5" but not "alexnet", while "resnet20" suggests
    both "resnet20_v1" and "resnet20_v2".
    """
    scores = {
        known_name: difflib.SequenceMatcher(None, name.lower(), known_name).ratio()
        for known_name in known
    }
    best = max(scores.values())
    if best < 0.6:
        return []
    return [known_name for known_name in known if scores[known_name] >= best - 0.05]


def _lookup(name: str) -> _Entry:
    entry = _ENTRIES.get(name) if isinstance(name, str) else None
    if entry is not None:
        return entry
    known = names()
    close = _close_matches(name, known) if isinstance(name, str) else []
    hint = ""
    if close:
        quoted = [repr(match) for match in close]
        listed = quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"
        hint = f" Did you mean {listed}?"
    raise UnknownModelError(f"Unknown model {name!r}.{hint} Known models: {', '.join(known)}.")


def build(
    name: str,
    *,
    input_shape: InputShape | None = None,
    num_classes: int | None = None,
    **options: object,
) -> keras.Model:
    """Build a registered model.

    Args:
        name: a name from :func:`names`.
        input_shape: ``(height, width, channels)``; the model's default when
            ``None``.
        num_classes: number of output classes; the model's default when ``None``.
        **options: the builder's own options, e.g. ``batch_norm=True`` for
            ``alexnet``.

    Returns:
        A new, untrained ``keras.Model`` named ``name``.

    Raises:
        UnknownModelError: ``name`` is not registered.
        ValueError: an option the builder does not have, or an input shape,
            class count or option value it cannot take.
    """
    entry = _lookup(name)
    model_info = entry.info
    for option, value in options.items():
        if option not in model_info.options:
            if model_info.options:
                close = difflib.get_close_matches(option, model_info.options, n=1)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                expected = f"Expected one of its options: {', '.join(model_info.options)}."
            else:
                hint = ""
                expected = "It takes no options besides input_shape and num_classes."
            raise ValueError(
                f"Model {name!r} has no option {option!r}.{hint} {expected} "
                f"Received: {option}={value!r}"
            )
    return entry.builder(
        input_shape=model_info.default_input_shape if input_shape is None else input_shape,
        num_classes=model_info.default_num_classes if num_classes is None else num_classes,
        **options,
    )


def recipe(name: str) -> Recipe:
    """Return the documented training recipe of a registered model."""
    return _lookup(name).info.recipe


def info(name: str) -> ModelInfo:
    """Return what the registry knows about a registered model."""
    return _lookup(name).info
