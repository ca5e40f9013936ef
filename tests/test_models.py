"""The model zoo: parameter counts, layer names, input checks and the registry.

Every model is built once per parametrized case and released afterwards, so
the 100M-parameter VGGs never sit in memory together. Tests that build the
50M+ parameter models carry the ``large_model`` marker.
"""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from pytest_cnnperf import models
from pytest_cnnperf.backends.imports import import_keras
from pytest_cnnperf.models import inputs, registry

if TYPE_CHECKING:
    import keras

ALL_NAMES = (
    "alexnet",
    "cifar10_benchmark_cnn",
    "cifar10_bn_cnn",
    "lenet5",
    "lenet5_afif",
    "mnist_benchmark_cnn",
    "resnet20_v1",
    "resnet20_v2",
    "resnet50",
    "resnet_elu_cifar100",
    "squeezenet",
    "squeezenet_fixed",
    "tf_tutorial_cnn",
    "vgg11",
    "vgg16",
    "vgg_like",
)

large = pytest.mark.large_model


def case(
    name: str,
    shape: tuple[int, int, int],
    classes: int,
    total: int,
    non_trainable: int = 0,
    *marks: pytest.MarkDecorator,
) -> Any:
    return pytest.param(
        name,
        shape,
        classes,
        total,
        non_trainable,
        marks=marks,
        id=f"{name}-{'x'.join(map(str, shape))}-{classes}",
    )


# The counts of the zoo contract (docs/models.md), which were checked against
# the source documents; squeezenet_fixed's are derived by hand in its docstring
# and resnet50's is keras.applications' published figure.
DOCUMENTED_COUNTS = [
    case("lenet5", (32, 32, 1), 10, 61_706),
    case("lenet5", (28, 28, 1), 10, 61_706),
    case("lenet5_afif", (28, 28, 1), 10, 150_742),
    case("lenet5_afif", (32, 32, 3), 10, 204_098),
    case("vgg_like", (28, 28, 1), 10, 1_505_034),
    case("vgg_like", (32, 32, 3), 10, 1_505_610),
    case("resnet20_v1", (32, 32, 3), 10, 274_442, 1_376),
    case("resnet20_v1", (28, 28, 1), 10, 274_090, 1_344),
    case("resnet20_v2", (32, 32, 3), 10, 574_090, 3_488),
    case("resnet20_v2", (28, 28, 1), 10, 573_738, 3_456),
    case("squeezenet", (28, 28, 1), 10, 711_956),
    case("squeezenet", (32, 32, 3), 10, 720_084),
    case("squeezenet_fixed", (28, 28, 1), 10, 727_416),
    case("squeezenet_fixed", (32, 32, 3), 10, 729_144),
    case("mnist_benchmark_cnn", (28, 28, 1), 10, 98_778),
    case("cifar10_benchmark_cnn", (32, 32, 3), 10, 1_250_858),
    case("resnet_elu_cifar100", (32, 32, 3), 100, 1_367_844),
    case("tf_tutorial_cnn", (28, 28, 1), 10, 3_274_634),
    case("cifar10_bn_cnn", (32, 32, 3), 10, 1_308_586, 1_920),
    case("resnet50", (224, 224, 3), 1000, 25_636_712, 53_120),
    case("alexnet", (227, 227, 3), 1000, 62_378_344, 0, large),
    case("alexnet", (227, 227, 3), 10, 58_322_314, 0, large),
    case("vgg11", (224, 224, 3), 1000, 132_863_336, 0, large),
    case("vgg11", (224, 224, 3), 10, 128_807_306, 0, large),
    case("vgg16", (224, 224, 3), 1000, 138_357_544, 0, large),
]


@pytest.fixture
def release() -> Iterator[list[keras.Model]]:
    """Collect built models and free them, and Keras' global state, afterwards."""
    built: list[keras.Model] = []
    yield built
    built.clear()
    import_keras().backend.clear_session()


# Layers whose role is their class, named after it on purpose ("flatten" as
# in keras.applications); any other layer must not carry Keras' default name.
_ROLE_NAMED = {"flatten", "rescaling"}


def _has_default_name(layer: keras.layers.Layer) -> bool:
    # Keras' default layer name: the class name in snake case, then _1, _2...
    snake = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", type(layer).__name__)
    snake = re.sub("([a-z])([A-Z])", r"\1_\2", snake).lower()
    if layer.name == snake:
        return snake not in _ROLE_NAMED
    return re.fullmatch(rf"{snake}_\d+", layer.name) is not None


def _non_trainable(model: keras.Model) -> int:
    return sum(int(w.numpy().size) for w in model.non_trainable_weights)


# ---------------------------------------------------------------- registry


def test_importing_the_zoo_loads_no_keras_tensorflow_or_numpy() -> None:
    code = (
        "import sys, pytest_cnnperf.models as m; m.names(); m.recipe('lenet5'); "
        "print(sorted(k for k in ('keras', 'tensorflow', 'numpy') if k in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_names_lists_every_model_sorted() -> None:
    assert models.names() == ALL_NAMES


@pytest.mark.parametrize("name", ALL_NAMES)
def test_info_describes_the_builder(name: str) -> None:
    info = models.info(name)
    builder = getattr(sys.modules[info.module], name)
    parameters = inspect.signature(builder).parameters
    assert info.name == name
    assert info.default_input_shape == parameters["input_shape"].default
    assert info.default_num_classes == parameters["num_classes"].default
    assert info.recipe is models.recipe(name)
    assert info.summary == inspect.getdoc(builder).splitlines()[0]  # type: ignore[union-attr]
    assert info.source.startswith(("seed 00", "keras.applications"))


@pytest.mark.parametrize("name", ALL_NAMES)
def test_builder_docstring_cites_its_source_and_documents_arguments(name: str) -> None:
    info = models.info(name)
    doc = inspect.getdoc(getattr(sys.modules[info.module], name)) or ""
    for section in ("Reference:", "Args:", "Returns:", f'named ``"{name}"``'):
        assert section in doc
    for number in re.findall(r"seed (\d{3})", info.source):
        assert number in doc
    assert info.recipe.source


def test_options_come_from_keyword_only_arguments() -> None:
    assert models.info("alexnet").options == ("batch_norm",)
    assert models.info("cifar10_bn_cnn").options == ("seed",)
    assert models.info("lenet5").options == ()


def test_unknown_name_suggests_close_matches_and_lists_all() -> None:
    with pytest.raises(KeyError) as caught:
        models.build("lenet")
    assert str(caught.value) == (
        "Unknown model 'lenet'. Did you mean 'lenet5'? Known models: " + ", ".join(ALL_NAMES) + "."
    )


def test_unknown_name_is_also_a_value_error_with_several_suggestions() -> None:
    with pytest.raises(
        ValueError, match=r"^Unknown model 'vgg'\. Did you mean 'vgg11' or 'vgg16'\?"
    ):
        models.recipe("vgg")
    with pytest.raises(
        ValueError,
        match=r"^Unknown model 'resnet20'\. Did you mean 'resnet20_v1', 'resnet20_v2' or "
        r"'resnet50'\?",
    ):
        models.info("resnet20")


def test_unknown_name_without_close_match() -> None:
    with pytest.raises(registry.UnknownModelError) as caught:
        models.info("transformer")
    assert (
        str(caught.value)
        == "Unknown model 'transformer'. Known models: " + ", ".join(ALL_NAMES) + "."
    )


def test_unknown_option_names_the_builders_options() -> None:
    with pytest.raises(ValueError) as caught:
        models.build("alexnet", batchnorm=True)
    assert str(caught.value) == (
        "Model 'alexnet' has no option 'batchnorm'. Did you mean 'batch_norm'? Expected one "
        "of its options: batch_norm. Received: batchnorm=True"
    )


def test_unknown_option_for_a_builder_without_options() -> None:
    with pytest.raises(ValueError) as caught:
        models.build("lenet5", dropout=0.5)
    assert str(caught.value) == (
        "Model 'lenet5' has no option 'dropout'. It takes no options besides input_shape "
        "and num_classes. Received: dropout=0.5"
    )


def test_build_uses_the_registered_defaults(release: list[keras.Model]) -> None:
    model = models.build("lenet5_afif")
    release.append(model)
    assert model.input_shape == (None, 28, 28, 1)
    assert model.output_shape == (None, 10)


# ---------------------------------------------------------------- counts


@pytest.mark.parametrize(("name", "shape", "classes", "total", "non_trainable"), DOCUMENTED_COUNTS)
def test_parameter_count_matches_the_documents(
    name: str,
    shape: tuple[int, int, int],
    classes: int,
    total: int,
    non_trainable: int,
    release: list[keras.Model],
) -> None:
    model = models.build(name, input_shape=shape, num_classes=classes)
    release.append(model)
    assert model.count_params() == total
    assert _non_trainable(model) == non_trainable
    assert model.name == name
    assert model.input_shape == (None, *shape)
    assert model.output_shape == (None, classes)
    assert [layer.name for layer in model.layers if _has_default_name(layer)] == []


# ---------------------------------------------------------------- structure


def test_lenet5_layer_names(release: list[keras.Model]) -> None:
    model = models.build("lenet5", input_shape=(28, 28, 1))
    release.append(model)
    assert [layer.name for layer in model.layers] == [
        "input",
        "input_pad",
        "c1_conv",
        "s2_pool",
        "c3_conv",
        "s4_pool",
        "c5_conv",
        "c5_flatten",
        "f6_dense",
        "predictions",
    ]
    assert model.get_layer("input_pad").output.shape == (None, 32, 32, 1)
    assert model.get_layer("c5_conv").output.shape == (None, 1, 1, 120)


def test_lenet5_does_not_pad_32_pixel_inputs(release: list[keras.Model]) -> None:
    model = models.build("lenet5")
    release.append(model)
    assert "input_pad" not in [layer.name for layer in model.layers]
    assert model.get_layer("c1_conv").output.shape == (None, 28, 28, 6)


def test_squeezenet_keeps_the_height_concatenation_quirk(release: list[keras.Model]) -> None:
    quirk = models.build("squeezenet")
    fixed = models.build("squeezenet_fixed")
    release.extend([quirk, fixed])
    assert quirk.get_layer("fire2_concat").output.shape == (None, 12, 6, 64)
    assert fixed.get_layer("fire2_concat").output.shape == (None, 6, 6, 128)
    assert quirk.get_layer("flatten").output.shape == (None, 384 * 10)


def test_resnet20_stems_follow_the_input_size(release: list[keras.Model]) -> None:
    mnist = models.build("resnet20_v1", input_shape=(28, 28, 1))
    cifar = models.build("resnet20_v1", input_shape=(32, 32, 3))
    release.extend([mnist, cifar])
    mnist_layers = [layer.name for layer in mnist.layers]
    cifar_layers = [layer.name for layer in cifar.layers]
    assert mnist_layers[:3] == ["input", "stem_pad", "stem_conv"]
    assert mnist_layers[3] == "stage1_block1_1_conv"
    assert cifar_layers[:4] == ["input", "stem_conv", "stem_bn", "stem_relu"]
    assert mnist.get_layer("avg_pool").input.shape == (None, 8, 8, 64)


def test_alexnet_batch_norm_sits_between_dense_and_relu(release: list[keras.Model]) -> None:
    # The smallest input keeps this cheap: fc6 then has 256 inputs.
    plain = models.build("alexnet", input_shape=(67, 67, 3))
    normalized = models.build("alexnet", input_shape=(67, 67, 3), batch_norm=True)
    release.extend([plain, normalized])
    assert normalized.count_params() - plain.count_params() == 4 * 2 * 4096
    # Two layers, each with a moving mean and variance per unit.
    assert _non_trainable(normalized) == 2 * 2 * 4096
    names = [layer.name for layer in normalized.layers]
    for fc in ("fc6", "fc7"):
        index = names.index(fc)
        assert names[index - 1 : index + 3] == [f"{fc}_dropout", fc, f"{fc}_bn", f"{fc}_relu"]
    assert "fc6_bn" not in [layer.name for layer in plain.layers]


def test_tf_tutorial_cnn_ends_in_logits(release: list[keras.Model]) -> None:
    model = models.build("tf_tutorial_cnn")
    release.append(model)
    assert model.layers[-1].name == "logits"
    assert model.layers[-1].activation.__name__ == "linear"
    assert models.recipe("tf_tutorial_cnn").from_logits is True


def test_cifar10_bn_cnn_seeds_its_augmentation_layers(release: list[keras.Model]) -> None:
    model = models.build("cifar10_bn_cnn", seed=7)
    release.append(model)
    assert [layer.name for layer in model.layers[1:4]] == [
        "rescaling",
        "augment_flip",
        "augment_rotation",
    ]
    assert model.get_layer("augment_flip").seed == 7
    assert model.get_layer("augment_rotation").seed == 8
    assert model.get_layer("augment_rotation").factor == (-0.15, 0.15)


def test_resnet50_is_keras_applications_network(release: list[keras.Model]) -> None:
    model = models.build("resnet50", input_shape=(32, 32, 3), num_classes=10)
    release.append(model)
    names = [layer.name for layer in model.layers]
    assert names[:3] == ["input", "conv1_pad", "conv1_conv"]
    assert "conv5_block3_out" in names
    assert model.output_shape == (None, 10)


# ---------------------------------------------------------------- inputs

# The smallest side each builder accepts under its general rule, and the
# channel count to try it with.
SMALLEST_SIDES = [
    ("lenet5_afif", 8, 1),
    ("vgg_like", 10, 1),
    ("squeezenet", 17, 1),
    ("squeezenet_fixed", 17, 1),
    ("mnist_benchmark_cnn", 19, 1),
    ("cifar10_benchmark_cnn", 10, 3),
    ("cifar10_bn_cnn", 16, 3),
    ("alexnet", 67, 3),
    ("vgg11", 32, 3),
    ("vgg16", 32, 3),
]


@pytest.mark.parametrize(("name", "side", "channels"), SMALLEST_SIDES)
def test_smallest_supported_side_is_tight(
    name: str,
    side: int,
    channels: int,
    release: list[keras.Model],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model = models.build(name, input_shape=(side, side, channels))
    release.append(model)
    assert model.output_shape[0] is None
    smaller = (side - 1, side - 1, channels)
    with pytest.raises(ValueError, match=rf"^Model '{name}' cannot take input_shape="):
        models.build(name, input_shape=smaller)
    # Without the check, Keras itself fails one pixel below the bound.
    monkeypatch.setattr(inputs.InputSupport, "accepts", lambda self, shape: True)
    with pytest.raises(ValueError, match="output size would be zero or negative"):
        models.build(name, input_shape=smaller)


def test_resnet50_keeps_keras_applications_minimum_of_32(release: list[keras.Model]) -> None:
    model = models.build("resnet50", input_shape=(32, 32, 3), num_classes=2)
    release.append(model)
    with pytest.raises(ValueError) as caught:
        models.build("resnet50", input_shape=(31, 31, 3))
    assert str(caught.value) == (
        "Model 'resnet50' cannot take input_shape=(31, 31, 3). Expected one of: "
        "(224, 224, 3), or any HxWx3 with H, W >= 32. Received: input_shape=(31, 31, 3)"
    )


def test_unsupported_shape_names_model_shape_and_supported_shapes() -> None:
    with pytest.raises(ValueError) as caught:
        models.build("alexnet", input_shape=(28, 28, 1))
    assert str(caught.value) == (
        "Model 'alexnet' cannot take input_shape=(28, 28, 1). Expected one of: (227, 227, 3), "
        "or any HxWx3 with H, W >= 67. Received: input_shape=(28, 28, 1)"
    )


@pytest.mark.parametrize(
    ("name", "shape", "expected"),
    [
        ("lenet5", (32, 32, 3), "(32, 32, 1), (28, 28, 1)"),
        ("resnet20_v1", (30, 30, 3), "(28, 28, 1), (32, 32, 3), or any 32x32xC or 28x28xC"),
        ("resnet20_v2", (64, 64, 3), "(28, 28, 1), (32, 32, 3), or any 32x32xC or 28x28xC"),
        ("vgg16", (224, 224, 1), "(224, 224, 3), or any HxWx3 with H, W >= 32"),
    ],
)
def test_models_with_fixed_sizes_reject_others(
    name: str, shape: tuple[int, int, int], expected: str
) -> None:
    with pytest.raises(ValueError) as caught:
        models.build(name, input_shape=shape)
    assert str(caught.value) == (
        f"Model '{name}' cannot take input_shape={shape}. Expected one of: {expected}. "
        f"Received: input_shape={shape}"
    )


@pytest.mark.parametrize(
    ("name", "shape"),
    [("resnet20_v1", (32, 32, 1)), ("resnet20_v2", (28, 28, 3))],
)
def test_resnet20_takes_any_channel_count(
    name: str, shape: tuple[int, int, int], release: list[keras.Model]
) -> None:
    model = models.build(name, input_shape=shape)
    release.append(model)
    assert model.output_shape == (None, 10)


@pytest.mark.parametrize("shape", [(28, 28), (28, 28, 0), (28.0, 28, 1), "28x28x1"])
def test_input_shape_must_be_three_positive_integers(shape: object) -> None:
    with pytest.raises(ValueError) as caught:
        models.build("tf_tutorial_cnn", input_shape=shape)  # type: ignore[arg-type]
    assert str(caught.value) == (
        f"Model 'tf_tutorial_cnn' cannot take input_shape={shape!r}. Expected three positive "
        f"integers (height, width, channels). Received: input_shape={shape!r}"
    )


def test_input_shape_may_be_a_list(release: list[keras.Model]) -> None:
    model = models.build("lenet5", input_shape=[28, 28, 1])  # type: ignore[arg-type]
    release.append(model)
    assert model.input_shape == (None, 28, 28, 1)


@pytest.mark.parametrize("classes", [1, 0, 2.0, True])
def test_num_classes_must_be_an_integer_of_at_least_two(classes: object) -> None:
    with pytest.raises(ValueError) as caught:
        models.build("mnist_benchmark_cnn", num_classes=classes)  # type: ignore[arg-type]
    assert str(caught.value) == (
        f"Model 'mnist_benchmark_cnn' cannot take num_classes={classes!r}. Expected an "
        f"integer >= 2. Received: num_classes={classes!r}"
    )


def test_alexnet_batch_norm_must_be_a_bool() -> None:
    with pytest.raises(ValueError) as caught:
        models.build("alexnet", batch_norm=1)
    assert str(caught.value) == (
        "Model 'alexnet' expects batch_norm to be True or False. Received: batch_norm=1"
    )


def test_cifar10_bn_cnn_seed_must_be_a_non_negative_integer() -> None:
    with pytest.raises(ValueError) as caught:
        models.build("cifar10_bn_cnn", seed=-1)
    assert str(caught.value) == (
        "Model 'cifar10_bn_cnn' expects seed to be a non-negative integer or None. "
        "Received: seed=-1"
    )


def test_input_support_description_lists_documented_shapes_then_rules() -> None:
    support = inputs.InputSupport(documented=((28, 28, 1), (32, 32, 3)), min_side=8)
    assert support.describe() == "(28, 28, 1), (32, 32, 3), or any HxWxC with H, W >= 8"
    assert support.accepts((8, 9, 5))
    assert not support.accepts((7, 9, 5))
    only = inputs.InputSupport(documented=((32, 32, 1),))
    assert only.describe() == "(32, 32, 1)"
    assert not only.accepts((32, 32, 3))
