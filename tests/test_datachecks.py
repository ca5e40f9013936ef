"""Unit tests of ``datachecks`` and of ``datasets.user``: a test's own data, checked."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from pytest_cnnperf import datachecks
from pytest_cnnperf.datachecks import DataCheckError
from pytest_cnnperf.datasets import Dataset
from pytest_cnnperf.datasets.user import user_dataset

WHO = "The data set loader 'mine'"


def _arrays(n_train: int = 30, n_test: int = 10, classes: int = 10) -> tuple[Any, ...]:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, size=(n_train + n_test, 4, 4, 1), dtype=np.uint8)
    y = np.arange(n_train + n_test) % classes
    return x[:n_train], y[:n_train], x[n_train:], y[n_train:]


def _message(loaded: object) -> str:
    with pytest.raises(DataCheckError) as caught:
        datachecks.loader_arrays(WHO, loaded)
    return str(caught.value)


def _dataset(**changes: Any) -> Dataset:
    x_train, y_train, x_test, y_test = _arrays()
    fields: dict[str, Any] = {
        "name": "mine",
        "x_train": x_train,
        "y_train": y_train,
        "x_test": x_test,
        "y_test": y_test,
        "num_classes": 10,
        "input_shape": (4, 4, 1),
        "source": "real",
        "origin": "test",
        "preprocessing": (),
        "fallback_reason": None,
    }
    fields.update(changes)
    return Dataset(**fields)


# -- what a loader returns --------------------------------------------------


def test_good_arrays_become_nhwc_images_and_int64_labels() -> None:
    x_train, y_train, x_test, y_test = _arrays()
    grey = (x_train[..., 0], y_train.astype("float32"), x_test[..., 0], y_test[:, None])
    out = datachecks.loader_arrays(WHO, grey)
    assert [a.shape for a in out] == [(30, 4, 4, 1), (30,), (10, 4, 4, 1), (10,)]
    assert out[1].dtype == out[3].dtype == np.int64
    assert out[1].tolist() == y_train.tolist()


@pytest.mark.parametrize(
    ("loaded", "message"),
    [
        (
            [1, 2, 3],
            "The data set loader 'mine' must return a pytest_cnnperf.datasets.Dataset or a "
            "tuple (x_train, y_train, x_test, y_test). Received: list",
        ),
        (
            (1, 2, 3),
            "The data set loader 'mine' must return a pytest_cnnperf.datasets.Dataset or a "
            "tuple (x_train, y_train, x_test, y_test). Received: a tuple of 3 items",
        ),
    ],
)
def test_wrong_return_type(loaded: object, message: str) -> None:
    assert _message(loaded) == message


def test_images_of_two_shapes() -> None:
    x_train, y_train, x_test, y_test = _arrays()
    assert _message((x_train, y_train, x_test[:, :2], y_test)) == (
        "The data set loader 'mine' must return NHWC images of one shape. "
        "Received: x_train.shape=(30, 4, 4, 1), x_test.shape=(10, 2, 4, 1)"
    )


def test_images_that_are_not_numbers() -> None:
    _, y_train, x_test, y_test = _arrays()
    x_train = np.array([["a"] * 4] * 30)
    assert _message((x_train, y_train, x_test, y_test)) == (
        "The data set loader 'mine' returned x_train of dtype <U1. Expected numeric images: "
        "uint8 pixels, or floats the loader has preprocessed itself."
    )


def test_ragged_images() -> None:
    _, y_train, x_test, y_test = _arrays()
    message = _message(([[1, 2], [3]], y_train, x_test, y_test))
    assert message.startswith("The data set loader 'mine' returned x_train that is not an array (")
    assert message.endswith("). Expected a NumPy array or a nested list of one shape.")


def test_no_training_images() -> None:
    x_train, y_train, x_test, y_test = _arrays()
    assert _message((x_train[:0], y_train[:0], x_test, y_test)) == (
        "The data set loader 'mine' returned no training images. Expected at least one."
    )


def test_fewer_labels_than_images() -> None:
    x_train, y_train, x_test, y_test = _arrays()
    assert _message((x_train, y_train[:20], x_test, y_test)) == (
        "The data set loader 'mine' returned 30 training images but 20 training labels. "
        "Expected one label per image."
    )


def test_one_hot_labels() -> None:
    x_train, y_train, x_test, y_test = _arrays()
    one_hot = np.eye(10)[y_test]
    assert _message((x_train, y_train, x_test, one_hot)) == (
        "The data set loader 'mine' returned test labels of shape (10, 10). Expected one class "
        "id per image, of shape (10,); one-hot labels become class ids with "
        "labels.argmax(axis=1)."
    )


def test_labels_of_three_dimensions() -> None:
    x_train, y_train, x_test, y_test = _arrays()
    assert _message((x_train, y_train.reshape(30, 1, 1), x_test, y_test)) == (
        "The data set loader 'mine' returned training labels of shape (30, 1, 1). Expected one "
        "class id per image, of shape (30,)."
    )


def test_fractional_labels() -> None:
    x_train, y_train, x_test, y_test = _arrays()
    labels = y_train + np.where(np.arange(30) < 5, 0.5, 0.0)
    assert _message((x_train, labels, x_test, y_test)) == (
        "The data set loader 'mine' returned training labels that are not whole numbers: "
        "found 0.5, 1.5, 2.5, ... (5 labels). Expected integer class ids."
    )


def test_nan_label() -> None:
    x_train, y_train, x_test, y_test = _arrays()
    labels = y_test.astype("float64")
    labels[3] = np.nan
    assert _message((x_train, y_train, x_test, labels)) == (
        "The data set loader 'mine' returned test labels that are not whole numbers: "
        "found nan (1 label). Expected integer class ids."
    )


def test_labels_that_are_not_numbers() -> None:
    x_train, y_train, x_test, _ = _arrays()
    assert _message((x_train, y_train, x_test, np.array(["cat"] * 10))) == (
        "The data set loader 'mine' returned test labels of dtype <U3. Expected integer class ids."
    )


# -- label ranges ------------------------------------------------------------


def test_labels_outside_a_declared_class_count() -> None:
    with pytest.raises(DataCheckError) as caught:
        datachecks.labels_in_range(WHO, "training", np.array([0, 12, 3, 12, 12]), 10)
    assert str(caught.value) == (
        "The data set loader 'mine' returned training labels outside [0, 10): found 12 "
        "(3 labels). Expected class ids from 0 to 9, as num_classes=10 says."
    )


def test_test_labels_beyond_the_inferred_class_count() -> None:
    with pytest.raises(DataCheckError) as caught:
        datachecks.labels_in_range(WHO, "test", np.array([0, 12, 13]), 10, inferred=True)
    assert str(caught.value) == (
        "The data set loader 'mine' returned test labels outside [0, 10): found 12, 13 "
        "(2 labels). Expected class ids from 0 to 9: the number of classes, 10, is the largest "
        "training label plus one. Return a pytest_cnnperf.datasets.Dataset with num_classes "
        "set if some classes have no training images."
    )


def test_negative_training_labels_with_an_inferred_class_count() -> None:
    with pytest.raises(DataCheckError) as caught:
        datachecks.labels_in_range(WHO, "training", np.array([-1, 4, -1]), 5, inferred=True)
    assert str(caught.value) == (
        "The data set loader 'mine' returned training labels outside [0, 5): found -1 "
        "(2 labels). Expected class ids from 0 to 4: the number of classes, 5, is the largest "
        "training label plus one."
    )


def test_labels_in_range_pass() -> None:
    datachecks.labels_in_range(WHO, "test", np.array([0, 9]), 10)


def test_dataset_labels_checks_both_parts() -> None:
    datachecks.dataset_labels("The data set 'mine'", _dataset())
    with pytest.raises(DataCheckError) as caught:
        datachecks.dataset_labels("The data set 'mine'", _dataset(num_classes=5))
    assert str(caught.value).startswith(
        "The data set 'mine' returned training labels outside [0, 5): found 5, 6, 7, ... "
        "(15 labels). Expected class ids from 0 to 4, as num_classes=5 says."
    )


# -- model outputs -------------------------------------------------------------


def test_output_units_must_equal_the_classes() -> None:
    datachecks.output_units("The model 'm'", (None, 10), 10, "mine")
    with pytest.raises(DataCheckError) as caught:
        datachecks.output_units("The model 'm'", (None, 3), 10, "mine", ": fix it")
    assert str(caught.value) == (
        "The model 'm' has 3 output units, but the data set 'mine' has 10 classes. "
        "Expected one output unit per class: fix it."
    )


def test_outputs_must_be_one_score_per_class() -> None:
    with pytest.raises(DataCheckError) as caught:
        datachecks.output_units("The model 'm'", (None, 6, 6, 10), 10, "mine")
    assert str(caught.value) == (
        "The model 'm' has outputs of shape (None, 6, 6, 10). Expected outputs of shape "
        "(batch, 10): one score per class of the data set 'mine'."
    )


@pytest.mark.parametrize("shape", [None, [(None, 10), (None, 2)], (None, "x")])
def test_unknown_or_several_outputs_are_not_checked(shape: object) -> None:
    datachecks.output_units("The model 'm'", shape, 10, "mine")


# -- user_dataset ------------------------------------------------------------


def test_user_dataset_infers_classes_from_training_labels_and_takes_sizes() -> None:
    ds = user_dataset("mine", _arrays, {"classes": 4}, 8, 2)
    assert (len(ds.x_train), len(ds.x_test), ds.num_classes) == (8, 2, 4)
    assert ds.input_shape == (4, 4, 1) and ds.origin == "user loader mine"
    assert ds.y_train.dtype == np.int64


def test_user_dataset_checks_test_labels_against_the_training_classes() -> None:
    def skewed() -> tuple[Any, ...]:
        x_train, y_train, x_test, y_test = _arrays()
        return x_train, y_train % 5, x_test, y_test

    with pytest.raises(DataCheckError) as caught:
        user_dataset("skewed", skewed, {}, None, None)
    assert str(caught.value).startswith(
        "The data set loader 'skewed' returned test labels outside [0, 5): found 5, 6, 7, ... "
        "(5 labels). Expected class ids from 0 to 4: the number of classes, 5, is the largest "
        "training label plus one. Return a pytest_cnnperf.datasets.Dataset"
    )


def test_user_dataset_checks_a_returned_dataset() -> None:
    with pytest.raises(DataCheckError) as caught:
        user_dataset("mine", lambda: _dataset(num_classes=5), {}, None, None)
    assert str(caught.value).startswith(
        "The data set loader 'mine' returned training labels outside [0, 5)"
    )


def test_user_dataset_names_options_the_loader_does_not_take() -> None:
    with pytest.raises(DataCheckError) as caught:
        user_dataset("mine", _arrays, {"clases": 4}, None, None)
    assert str(caught.value) == (
        "The data set loader 'mine' cannot be called with the options given to "
        "@pytest_cnnperf.dataset (got an unexpected keyword argument 'clases'). "
        "Received: clases=4"
    )


def test_user_dataset_sizes() -> None:
    with pytest.raises(DataCheckError) as caught:
        user_dataset("mine", _arrays, {}, 0, None)
    assert str(caught.value) == (
        "Expected train_size to be a positive int or None. Received: train_size=0"
    )
