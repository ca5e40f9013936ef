"""What a test's ``@model`` and ``@dataset`` decorators name, made real.

``load_dataset`` loads the data set with the session's data options;
``build_model`` builds the model for that data set's input shape and classes,
with the recipe it trains with, and checks that the model has one output per
class; ``check_fits`` checks the same for whatever a test passes to
``cnnperf.train``. Imported by the fixtures, never at plugin load.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pytest_cnnperf import backends, datachecks
from pytest_cnnperf.backends.imports import import_keras
from pytest_cnnperf.datachecks import DataCheckError
from pytest_cnnperf.markers import DatasetSpec, ModelSpec, resolve_profiled

if TYPE_CHECKING:
    import keras

    from pytest_cnnperf.config import CnnperfConfig
    from pytest_cnnperf.datasets import Dataset
    from pytest_cnnperf.models.recipe import Recipe

#: The ``load`` arguments the session sets, by the option that sets them.
SESSION_DATA_ARGUMENTS: Mapping[str, str] = {
    "data_dir": "--cnnperf-data-dir",
    "seed": "--cnnperf-seed",
    "mode": "--cnnperf-data",
    "offline": "--cnnperf-offline",
}

#: The recipe for a user's model that brings none.
DEFAULT_RECIPE_KWARGS: Mapping[str, Any] = {
    "optimizer": "Adam",
    "learning_rate": 1e-3,
    "batch_size": 32,
    "epochs": 3,
    "source": "pytest-cnnperf default for models without a documented recipe",
}


@dataclass
class ModelUnderTest:
    """A built model with the name, recipe and builder it came from."""

    name: str
    model: keras.Model
    recipe: Recipe
    rebuild: Callable[[], keras.Model]
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def params(self) -> int:
        return int(self.model.count_params())

    @property
    def input_shape(self) -> tuple[int, int, int]:
        height, width, channels = (int(d) for d in self.model.input_shape[1:])
        return (height, width, channels)


def default_recipe() -> Recipe:
    """The recipe a model without a documented one trains with."""
    from pytest_cnnperf.models.recipe import Recipe

    return Recipe(**DEFAULT_RECIPE_KWARGS)


def load_dataset(spec: DatasetSpec, cfg: CnnperfConfig) -> Dataset:
    """Load the data set a test named, with the session's data options."""
    from pytest_cnnperf import datasets
    from pytest_cnnperf.datasets.user import user_dataset

    profile = cfg.device_kind
    train_size: int | None = resolve_profiled(spec.train_size, profile)
    test_size: int | None = resolve_profiled(spec.test_size, profile)
    options: dict[str, Any] = resolve_profiled(spec.options, profile)
    if spec.loader is not None:
        return user_dataset(spec.name, spec.loader, options, train_size, test_size)
    for key, flag in SESSION_DATA_ARGUMENTS.items():
        if key in options:
            raise datasets.DatasetUsageError(
                f"@pytest_cnnperf.dataset({spec.name!r}) cannot set {key}: the session sets "
                f"it with {flag}. Received: {key}={options[key]!r}"
            )
    return datasets.load(
        spec.name,
        data_dir=cfg.data_dir,
        train_size=train_size,
        test_size=test_size,
        seed=cfg.seed,
        mode=cfg.data_mode,  # type: ignore[arg-type]
        offline=cfg.offline,
        **options,
    )


def build_model(spec: ModelSpec, ds: Dataset, device_name: str) -> ModelUnderTest:
    """Build the model a test named, for the data set's input shape and classes.

    Raises:
        UnknownModelError: no zoo model has that name.
        ValueError: a zoo model cannot take the options, shape or classes.
        DataCheckError: a builder returned no ``keras.Model``, or a model
            without one output unit per class of ``ds``.
    """
    from pytest_cnnperf import models

    height, width, channels = ds.input_shape
    input_shape = (int(height), int(width), int(channels))
    scope = backends.current().devices.scope

    if spec.builder is None:
        recipe = models.recipe(spec.name)
        who, hint = f"The model {spec.name!r}", ""

        def make() -> keras.Model:
            with scope(device_name):
                return models.build(
                    spec.name, input_shape=input_shape, num_classes=ds.num_classes, **spec.options
                )
    else:
        builder = spec.builder
        recipe = getattr(builder, "cnnperf_recipe", None) or default_recipe()
        accepted = accepted_keywords(builder)
        kwargs: dict[str, Any] = dict(spec.options)
        if accepted is None or "input_shape" in accepted:
            kwargs["input_shape"] = input_shape
        who = f"The model built by {spec.name!r}"
        if accepted is None or "num_classes" in accepted:
            kwargs["num_classes"] = ds.num_classes
            hint = (
                f": {spec.name!r} is called with num_classes={ds.num_classes}; give its last "
                "layer that many units"
            )
        else:
            hint = (
                f": {spec.name!r} takes no num_classes argument; add one and give the last "
                "layer num_classes units"
            )

        def make() -> keras.Model:
            with scope(device_name):
                built = builder(**kwargs)
            keras = import_keras()
            if not isinstance(built, keras.Model):
                raise DataCheckError(
                    f"The model builder {spec.name!r} must return a keras.Model. "
                    f"Received: {type(built).__name__}"
                )
            return built

    model = make()
    datachecks.output_units(who, output_shape(model), ds.num_classes, ds.name, hint)
    return ModelUnderTest(spec.name, model, recipe, make, spec.options)


def check_fits(mut: ModelUnderTest, ds: object) -> None:
    """``ds`` is a ``Dataset`` whose labels and classes ``mut`` can be trained on.

    Raises:
        DataCheckError: naming the data set or the model, and what is wrong.
    """
    from pytest_cnnperf.datasets import Dataset

    if not isinstance(ds, Dataset):
        raise DataCheckError(
            "Expected the cnnperf_dataset fixture or a pytest_cnnperf.datasets.Dataset. "
            f"Received: dataset={type(ds).__name__}"
        )
    datachecks.dataset_labels(f"The data set {ds.name!r}", ds)
    datachecks.output_units(
        f"The model {mut.name!r}", output_shape(mut.model), ds.num_classes, ds.name
    )


def output_shape(model: keras.Model) -> object:
    """The model's ``output_shape``, or None where Keras cannot tell it yet."""
    try:
        return model.output_shape
    except (AttributeError, ValueError, RuntimeError):
        return None


def accepted_keywords(builder: Callable[..., Any]) -> set[str] | None:
    """Keyword names the builder takes; None when it takes ``**kwargs``."""
    try:
        parameters = inspect.signature(builder).parameters.values()
    except (TypeError, ValueError):
        return set()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return None
    return {p.name for p in parameters}


def wrap_plain_model(model: keras.Model) -> ModelUnderTest:
    """A ``keras.Model`` a test built itself, trained with the default recipe."""
    keras_module = import_keras()
    if not isinstance(model, keras_module.Model):
        raise DataCheckError(
            "Expected the cnnperf_model fixture or a keras.Model. "
            f"Received: model={type(model).__name__}"
        )

    def rebuild() -> keras.Model:
        return keras_module.models.clone_model(model)

    return ModelUnderTest(model.name, model, default_recipe(), rebuild)
