"""Training recipes: the documented values, validation and the Keras objects they make."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from pytest_cnnperf import models
from pytest_cnnperf.backends.imports import import_keras
from pytest_cnnperf.models import Augmentation, Recipe

SHIFT_AND_FLIP = Augmentation(shift_fraction=0.1, horizontal_flip=True)

# name: (optimizer, learning rate, batch, epochs, other fields that differ from
# the defaults). Taken from the zoo contract and the builders' docstrings.
DOCUMENTED: dict[str, tuple[str, float, int, int, dict[str, Any]]] = {
    "lenet5": ("Adam", 1e-3, 128, 12, {}),
    "lenet5_afif": ("Adadelta", 1.0, 128, 10, {"input_scale": "raw"}),
    "vgg_like": ("Adadelta", 1.0, 128, 10, {"input_scale": "raw"}),
    "squeezenet": ("Adadelta", 1.0, 128, 10, {"input_scale": "raw"}),
    "squeezenet_fixed": ("Adadelta", 1.0, 128, 10, {"input_scale": "raw"}),
    "resnet20_v1": (
        "Adam", 1e-3, 128, 10, {"input_scale": "raw", "augmentation": SHIFT_AND_FLIP}
    ),
    "resnet20_v2": (
        "Adam", 1e-3, 128, 10, {"input_scale": "raw", "augmentation": SHIFT_AND_FLIP}
    ),
    "mnist_benchmark_cnn": (
        "Adagrad", 0.01, 128, 20, {"optimizer_options": (("initial_accumulator_value", 0.0),)}
    ),
    "cifar10_benchmark_cnn": ("RMSprop", 1e-4, 32, 40, {}),
    "resnet_elu_cifar100": (
        "Adam", 1e-3, 128, 200, {"lr_steps": ((40, 0.1),), "augmentation": SHIFT_AND_FLIP}
    ),
    "tf_tutorial_cnn": ("SGD", 0.001, 100, 33, {"from_logits": True}),
    "alexnet": (
        "SGD", 0.01, 128, 90, {"optimizer_options": (("momentum", 0.9), ("weight_decay", 5e-4))}
    ),
    "vgg11": (
        "SGD", 0.01, 256, 74, {"optimizer_options": (("momentum", 0.9), ("weight_decay", 5e-4))}
    ),
    "vgg16": (
        "SGD", 0.01, 256, 74, {"optimizer_options": (("momentum", 0.9), ("weight_decay", 5e-4))}
    ),
    "cifar10_bn_cnn": (
        "Adam", 1e-3, 32, 100, {"input_scale": "raw", "early_stopping_patience": 10}
    ),
    "resnet50": (
        "SGD",
        0.1,
        256,
        90,
        {
            "optimizer_options": (("momentum", 0.9), ("weight_decay", 1e-4)),
            "lr_steps": ((30, 0.1), (60, 0.01)),
        },
    ),
}  # fmt: skip


# name: how the recipe's source must begin, naming the document its numbers come from.
CITED: dict[str, str] = {
    "alexnet": "seed 003 ('Details of Learning', quoting Krizhevsky et al. 2012)",
    "cifar10_benchmark_cnn": "seed 000, section 4.3 and appendix C",
    "cifar10_bn_cnn": "seed 004, Table 1",
    "lenet5": "seed 003 (LeCun et al. 1998, Fig. 5",
    "lenet5_afif": "seed 001, Listing A.1",
    "mnist_benchmark_cnn": "seed 000, section 4.3 and appendix A",
    "resnet20_v1": "seed 001, Listing A.3",
    "resnet20_v2": "seed 001, Listing A.3",
    "resnet50": "no seed trains ResNet-50; default chosen by this project: He et al. 2016",
    "resnet_elu_cifar100": "seed 000, section 4.4 and appendix E",
    "squeezenet": "seed 001, Listing A.4",
    "squeezenet_fixed": "seed 001, Listing A.4",
    "tf_tutorial_cnn": "seed 003, 'Equivalent TensorFlow code to train LeNet'",
    "vgg11": "Simonyan and Zisserman 2015, section 3.1",
    "vgg16": "Simonyan and Zisserman 2015, section 3.1",
    "vgg_like": "seed 001, Listing A.2",
}


def test_every_model_has_a_documented_recipe() -> None:
    assert sorted(DOCUMENTED) == list(models.names())


@pytest.mark.parametrize("name", sorted(DOCUMENTED))
def test_recipe_matches_the_documents(name: str) -> None:
    optimizer, learning_rate, batch_size, epochs, other = DOCUMENTED[name]
    recipe = models.recipe(name)
    expected = Recipe(
        optimizer=optimizer,
        learning_rate=learning_rate,
        batch_size=batch_size,
        epochs=epochs,
        source=CITED[name],
        **other,
    )
    # The source is checked on its own: it must cite the document, then may explain.
    assert dataclasses.replace(recipe, source=CITED[name]) == expected
    assert recipe.source.startswith(CITED[name])


# ---------------------------------------------------------------- the Adadelta pitfall


@pytest.mark.parametrize("name", ["lenet5_afif", "vgg_like", "squeezenet"])
def test_seed_001_adadelta_runs_at_keras_2_rate_of_one(name: str) -> None:
    recipe = models.recipe(name)
    assert "Keras 2.0/2.1" in recipe.source
    optimizer = recipe.make_optimizer()
    keras = import_keras()
    assert isinstance(optimizer, keras.optimizers.Adadelta)
    assert float(optimizer.learning_rate) == 1.0
    # The pitfall: Keras 3's own default would train 1000 times slower.
    assert float(keras.optimizers.Adadelta().learning_rate) == pytest.approx(0.001)


def test_adagrad_recipe_reproduces_keras_2_accumulators() -> None:
    optimizer = models.recipe("mnist_benchmark_cnn").make_optimizer()
    assert float(optimizer.learning_rate) == pytest.approx(0.01)
    assert optimizer.initial_accumulator_value == 0.0


# ---------------------------------------------------------------- Keras objects


def test_make_optimizer_passes_options_and_overrides_the_rate() -> None:
    recipe = models.recipe("alexnet")
    optimizer = recipe.make_optimizer(learning_rate=0.05)
    assert type(optimizer).__name__ == "SGD"
    assert float(optimizer.learning_rate) == pytest.approx(0.05)
    assert optimizer.momentum == 0.9
    assert optimizer.weight_decay == 5e-4


def test_make_optimizer_rejects_a_bad_override() -> None:
    with pytest.raises(ValueError) as caught:
        models.recipe("alexnet").make_optimizer(learning_rate=-1.0)
    assert str(caught.value) == (
        "Expected learning_rate to be a positive number. Received: learning_rate=-1.0"
    )


@pytest.mark.parametrize(("name", "from_logits"), [("tf_tutorial_cnn", True), ("lenet5", False)])
def test_make_loss_is_sparse_cross_entropy(name: str, from_logits: bool) -> None:
    keras = import_keras()
    loss = models.recipe(name).make_loss()
    assert isinstance(loss, keras.losses.SparseCategoricalCrossentropy)
    assert loss.get_config()["from_logits"] is from_logits


def test_augmentation_layers_mirror_image_data_generator() -> None:
    keras = import_keras()
    layers = SHIFT_AND_FLIP.layers(seed=5)
    assert [type(layer) for layer in layers] == [
        keras.layers.RandomTranslation,
        keras.layers.RandomFlip,
    ]
    translation, flip = layers
    assert translation.height_factor == 0.1
    assert translation.width_factor == 0.1
    assert translation.fill_mode == "nearest"
    assert translation.seed == 5
    assert flip.mode == "horizontal"
    assert flip.seed == 6


def test_augmentation_rotation_layer() -> None:
    keras = import_keras()
    (rotation,) = Augmentation(rotation_fraction=0.15).layers(seed=0)
    assert isinstance(rotation, keras.layers.RandomRotation)
    assert rotation.factor == (-0.15, 0.15)
    assert rotation.seed == 2


def test_empty_augmentation_has_no_layers() -> None:
    assert Augmentation().layers(seed=0) == []


def test_augmentation_seed_must_be_a_non_negative_integer() -> None:
    with pytest.raises(ValueError) as caught:
        SHIFT_AND_FLIP.layers(seed=-1)
    assert str(caught.value) == "Expected seed to be a non-negative integer. Received: seed=-1"


# ---------------------------------------------------------------- learning-rate steps


def test_learning_rate_steps_count_epochs_from_zero() -> None:
    recipe = models.recipe("resnet_elu_cifar100")
    assert recipe.learning_rate_at(0) == pytest.approx(1e-3)
    assert recipe.learning_rate_at(39) == pytest.approx(1e-3)
    assert recipe.learning_rate_at(40) == pytest.approx(1e-4)
    assert recipe.learning_rate_at(199) == pytest.approx(1e-4)


def test_learning_rate_step_multipliers_are_relative_to_the_base() -> None:
    recipe = models.recipe("resnet50")
    assert recipe.learning_rate_at(29) == pytest.approx(0.1)
    assert recipe.learning_rate_at(30) == pytest.approx(0.01)
    assert recipe.learning_rate_at(60) == pytest.approx(0.001)
    assert recipe.learning_rate_at(60, base=1.0) == pytest.approx(0.01)


def test_learning_rate_without_steps_is_constant() -> None:
    assert models.recipe("lenet5").learning_rate_at(100, base=0.5) == 0.5


def test_learning_rate_at_rejects_a_negative_epoch() -> None:
    with pytest.raises(ValueError) as caught:
        models.recipe("resnet50").learning_rate_at(-1)
    assert str(caught.value) == (
        "Expected epoch to be a non-negative integer (0-based). Received: epoch=-1"
    )


def test_learning_rate_at_rejects_a_bad_base() -> None:
    with pytest.raises(ValueError) as caught:
        models.recipe("resnet50").learning_rate_at(3, base=0.0)
    assert str(caught.value) == "Expected base to be a positive number. Received: base=0.0"


# ---------------------------------------------------------------- replace and validation


def test_replace_returns_a_checked_copy() -> None:
    recipe = models.recipe("lenet5_afif")
    faster = recipe.replace(batch_size=256, epochs=2)
    assert (faster.batch_size, faster.epochs) == (256, 2)
    assert faster.optimizer == recipe.optimizer
    assert recipe.batch_size == 128
    with pytest.raises(ValueError, match="Expected batch_size to be a positive integer"):
        recipe.replace(batch_size=0)


def test_replace_rejects_an_unknown_field() -> None:
    with pytest.raises(ValueError) as caught:
        models.recipe("lenet5").replace(lr=0.1)
    assert str(caught.value) == (
        "Recipe has no field 'lr'. Expected one of: optimizer, learning_rate, batch_size, "
        "epochs, optimizer_options, from_logits, input_scale, lr_steps, augmentation, "
        "early_stopping_patience, source. Received: lr=0.1"
    )


def test_replace_suggests_a_close_field() -> None:
    with pytest.raises(ValueError, match=r"^Recipe has no field 'epoch'\. Did you mean 'epochs'\?"):
        models.recipe("lenet5").replace(epoch=3)


def test_recipes_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        models.recipe("lenet5").epochs = 1  # type: ignore[misc]


BASE: dict[str, Any] = {"optimizer": "SGD", "learning_rate": 0.1, "batch_size": 8, "epochs": 1}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"optimizer": "adam"},
            "Expected optimizer to be a Keras optimizer class name, one of: Adadelta, Adagrad, "
            "Adam, RMSprop, SGD. Did you mean 'Adam'? Received: optimizer='adam'",
        ),
        (
            {"optimizer": "Lion"},
            "Expected optimizer to be a Keras optimizer class name, one of: Adadelta, Adagrad, "
            "Adam, RMSprop, SGD. Received: optimizer='Lion'",
        ),
        (
            {"learning_rate": 0},
            "Expected learning_rate to be a positive number. Received: learning_rate=0",
        ),
        (
            {"learning_rate": float("nan")},
            "Expected learning_rate to be a positive number. Received: learning_rate=nan",
        ),
        ({"batch_size": 0}, "Expected batch_size to be a positive integer. Received: batch_size=0"),
        ({"epochs": 2.5}, "Expected epochs to be a positive integer. Received: epochs=2.5"),
        (
            {"optimizer_options": {"momentum": 0.9}},
            "Expected optimizer_options to be a tuple of (name, number) pairs, e.g. "
            "(('momentum', 0.9),). Received: optimizer_options={'momentum': 0.9}",
        ),
        (
            {"optimizer_options": (("beta_1", 0.9),)},
            "Keras' SGD has no numeric option 'beta_1'. Expected names among: clipnorm, "
            "clipvalue, global_clipnorm, momentum, weight_decay. "
            "Received: optimizer_options=(('beta_1', 0.9),)",
        ),
        (
            {"optimizer_options": (("momentum", 0.9), ("momentum", 0.8))},
            "Expected each optimizer option once, but 'momentum' appears 2 times. "
            "Received: optimizer_options=(('momentum', 0.9), ('momentum', 0.8))",
        ),
        (
            {"optimizer_options": (("momentum", True),)},
            "Expected optimizer option 'momentum' to be a finite number. "
            "Received: optimizer_options=(('momentum', True),)",
        ),
        (
            {"from_logits": 1},
            "Expected from_logits to be True or False. Received: from_logits=1",
        ),
        (
            {"input_scale": "float"},
            "Expected input_scale to be 'unit' (pixels / 255) or 'raw' (0..255). "
            "Received: input_scale='float'",
        ),
        (
            {"lr_steps": ((40, 0.1), (40, 0.01))},
            "Expected lr_steps to be (epoch, multiplier) pairs with 0-based epochs in "
            "increasing order and positive multipliers, e.g. ((40, 0.1),). "
            "Received: lr_steps=((40, 0.1), (40, 0.01))",
        ),
        (
            {"lr_steps": ((10, -0.1),)},
            "Expected lr_steps to be (epoch, multiplier) pairs with 0-based epochs in "
            "increasing order and positive multipliers, e.g. ((40, 0.1),). "
            "Received: lr_steps=((10, -0.1),)",
        ),
        (
            {"lr_steps": [(10, 0.1)]},
            "Expected lr_steps to be (epoch, multiplier) pairs with 0-based epochs in "
            "increasing order and positive multipliers, e.g. ((40, 0.1),). "
            "Received: lr_steps=[(10, 0.1)]",
        ),
        (
            {"augmentation": {"horizontal_flip": True}},
            "Expected augmentation to be an Augmentation or None. "
            "Received: augmentation={'horizontal_flip': True}",
        ),
        (
            {"early_stopping_patience": -1},
            "Expected early_stopping_patience to be a non-negative integer or None. "
            "Received: early_stopping_patience=-1",
        ),
        ({"source": None}, "Expected source to be a string. Received: source=None"),
    ],
)
def test_recipe_rejects_invalid_values(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as caught:
        Recipe(**{**BASE, **change})
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"shift_fraction": 1.5},
            "Expected shift_fraction to be a number in [0, 1]. Received: shift_fraction=1.5",
        ),
        (
            {"rotation_fraction": -0.1},
            "Expected rotation_fraction to be a number in [0, 1]. Received: rotation_fraction=-0.1",
        ),
        (
            {"horizontal_flip": "yes"},
            "Expected horizontal_flip to be True or False. Received: horizontal_flip='yes'",
        ),
    ],
)
def test_augmentation_rejects_invalid_values(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as caught:
        Augmentation(**change)
    assert str(caught.value) == message
