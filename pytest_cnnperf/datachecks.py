"""Checks of a test's own data and model, made before any training.

A loader that returns labels out of range, one label too few or fractional
labels, or a builder whose model has the wrong number of outputs, would
otherwise fail deep inside TensorFlow with a hundred lines of
``InvalidArgumentError``, or train silently on truncated labels. Each check
raises ``DataCheckError`` naming the loader, builder or model and exactly
what is wrong. NumPy only: no TensorFlow, no pytest.

``who`` in every function is the sentence's subject, such as
``"The data set loader 'bad_labels'"``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from pytest_cnnperf.datasets import Dataset
    from pytest_cnnperf.datasets.core import Array

#: Distinct wrong values quoted in a message before "...".
QUOTED_VALUES = 3


class DataCheckError(ValueError):
    """A test's own data set, loader or model cannot be trained as given."""


def loader_arrays(who: str, loaded: object) -> tuple[Array, Array, Array, Array]:
    """``(x_train, y_train, x_test, y_test)`` as NHWC images and int64 class ids.

    Grey images of shape ``(N, H, W)`` get a channel axis; labels of shape
    ``(N, 1)`` are flattened.
    """
    if not (isinstance(loaded, tuple) and len(loaded) == 4):
        received = (
            f"a tuple of {len(loaded)} items"
            if isinstance(loaded, tuple)
            else type(loaded).__name__
        )
        raise DataCheckError(
            f"{who} must return a pytest_cnnperf.datasets.Dataset or a tuple "
            f"(x_train, y_train, x_test, y_test). Received: {received}"
        )
    names = ("x_train", "y_train", "x_test", "y_test")
    x_train, y_train, x_test, y_test = (
        _array(who, name, value) for name, value in zip(names, loaded, strict=True)
    )
    for name, images in (("x_train", x_train), ("x_test", x_test)):
        if images.dtype.kind not in "uif":
            raise DataCheckError(
                f"{who} returned {name} of dtype {images.dtype}. Expected numeric images: "
                "uint8 pixels, or floats the loader has preprocessed itself."
            )
    if x_train.ndim == 3 and x_test.ndim == 3:
        x_train, x_test = x_train[..., None], x_test[..., None]
    if x_train.ndim != 4 or x_train.shape[1:] != x_test.shape[1:]:
        raise DataCheckError(
            f"{who} must return NHWC images of one shape. "
            f"Received: x_train.shape={x_train.shape}, x_test.shape={x_test.shape}"
        )
    if len(x_train) == 0:
        raise DataCheckError(f"{who} returned no training images. Expected at least one.")
    return (
        x_train,
        class_ids(who, "training", y_train, len(x_train)),
        x_test,
        class_ids(who, "test", y_test, len(x_test)),
    )


def class_ids(who: str, part: str, labels: Array, images: int) -> Array:
    """``labels`` as int64 class ids, one per image of the ``part`` split.

    Integer labels, and float labels that are all whole numbers, are accepted.
    """
    labels = np.asarray(labels)
    if labels.dtype.kind not in "uif":
        raise DataCheckError(
            f"{who} returned {part} labels of dtype {labels.dtype}. Expected integer class ids."
        )
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels.reshape(-1)
    if labels.ndim != 1:
        one_hot = (
            "; one-hot labels become class ids with labels.argmax(axis=1)"
            if labels.ndim == 2
            else ""
        )
        raise DataCheckError(
            f"{who} returned {part} labels of shape {labels.shape}. Expected one class id per "
            f"image, of shape ({len(labels)},){one_hot}."
        )
    if len(labels) != images:
        raise DataCheckError(
            f"{who} returned {images:,} {part} images but {len(labels):,} {part} labels. "
            "Expected one label per image."
        )
    if labels.dtype.kind == "f":
        fractional = labels[~(np.isfinite(labels) & (labels == np.round(labels)))]
        if fractional.size:
            raise DataCheckError(
                f"{who} returned {part} labels that are not whole numbers: found "
                f"{_found(fractional)}. Expected integer class ids."
            )
    return labels.astype(np.int64)


def labels_in_range(
    who: str, part: str, labels: Array, num_classes: int, *, inferred: bool = False
) -> None:
    """Every label is a class id from 0 to ``num_classes - 1``.

    Args:
        inferred: ``num_classes`` was taken from the training labels (their
            largest id plus one) rather than declared by a ``Dataset``.
    """
    bad = labels[(labels < 0) | (labels >= num_classes)]
    if not bad.size:
        return
    if inferred:
        why = f": the number of classes, {num_classes}, is the largest training label plus one"
        if part == "test" and bad.max() >= num_classes:
            why += (
                ". Return a pytest_cnnperf.datasets.Dataset with num_classes set if some "
                "classes have no training images"
            )
    else:
        why = f", as num_classes={num_classes} says"
    raise DataCheckError(
        f"{who} returned {part} labels outside [0, {num_classes}): found {_found(bad)}. "
        f"Expected class ids from 0 to {num_classes - 1}{why}."
    )


def dataset_labels(who: str, ds: Dataset) -> None:
    """A ``Dataset``'s labels are class ids below its ``num_classes``, one per image."""
    for part, images, labels in (
        ("training", ds.x_train, ds.y_train),
        ("test", ds.x_test, ds.y_test),
    ):
        ids = class_ids(who, part, labels, len(images))
        labels_in_range(who, part, ids, ds.num_classes)


def output_units(
    who: str, output_shape: object, num_classes: int, dataset: str, hint: str = ""
) -> None:
    """The model gives one score per class: outputs of shape ``(batch, num_classes)``.

    A model with several outputs, or whose output shape is not known before
    training, is not checked.

    Args:
        who: the model, as the subject of the message.
        output_shape: the model's ``output_shape``.
        num_classes: the data set's number of classes.
        dataset: the data set's name.
        hint: how to fix a wrong number of units, appended to the message.
    """
    if not (
        isinstance(output_shape, tuple)
        and all(d is None or isinstance(d, int) for d in output_shape)
    ):
        return
    if len(output_shape) != 2:
        raise DataCheckError(
            f"{who} has outputs of shape {output_shape}. Expected outputs of shape "
            f"(batch, {num_classes}): one score per class of the data set {dataset!r}."
        )
    units = output_shape[1]
    if units != num_classes:
        raise DataCheckError(
            f"{who} has {units} output units, but the data set {dataset!r} has "
            f"{num_classes} classes. Expected one output unit per class{hint}."
        )


def _array(who: str, name: str, value: Any) -> Array:
    try:
        return np.asarray(value)
    except ValueError as exc:  # ragged nested lists
        raise DataCheckError(
            f"{who} returned {name} that is not an array ({exc}). Expected a NumPy array or "
            "a nested list of one shape."
        ) from None


def _found(bad: Array) -> str:
    """``"12 (3 labels)"``: the distinct wrong values, smallest first, and how many."""
    values = np.unique(bad)
    quoted = ", ".join(_number(v) for v in values[:QUOTED_VALUES])
    if len(values) > QUOTED_VALUES:
        quoted += ", ..."
    return f"{quoted} ({bad.size:,} label{'s' if bad.size != 1 else ''})"


def _number(value: Any) -> str:
    number = float(value)
    return str(int(number)) if number.is_integer() else f"{number:g}"
