"""`user_dataset`: a `Dataset` from what a test's own loader returns.

`@pytest_cnnperf.dataset(loader)` names a callable instead of a data set
name. It returns a `Dataset`, or `(x_train, y_train, x_test, y_test)` with
NHWC (or NHW) images and integer labels, which become a `Dataset` here.
Either is checked before any training (see `pytest_cnnperf.datachecks`), and
a mistake raises `DataCheckError` naming the loader.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from pytest_cnnperf import datachecks
from pytest_cnnperf.datachecks import DataCheckError
from pytest_cnnperf.datasets.core import Dataset


def user_dataset(
    name: str,
    loader: Callable[..., Any],
    options: Mapping[str, Any],
    train_size: int | None,
    test_size: int | None,
) -> Dataset:
    """Call `loader(**options)` and turn what it returned into a `Dataset`.

    `train_size`/`test_size` keep the first images of each split; None keeps
    them all. A returned `Dataset` is used as it is. For a tuple, the number
    of classes is the largest training label plus one, and the test labels
    must lie below it.

    Raises:
        DataCheckError: the loader does not take `options`, or returned
            something that cannot be trained on.
    """
    who = f"The data set loader {name!r}"
    for label, size in (("train_size", train_size), ("test_size", test_size)):
        if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 1):
            raise DataCheckError(
                f"Expected {label} to be a positive int or None. Received: {label}={size!r}"
            )
    _check_call(who, loader, options)
    loaded = loader(**options)
    if isinstance(loaded, Dataset):
        datachecks.dataset_labels(who, loaded)
        return loaded
    x_train, y_train, x_test, y_test = datachecks.loader_arrays(who, loaded)
    x_train, y_train = x_train[:train_size], y_train[:train_size]
    x_test, y_test = x_test[:test_size], y_test[:test_size]
    num_classes = max(int(y_train.max()) + 1, 1)
    datachecks.labels_in_range(who, "training", y_train, num_classes, inferred=True)
    datachecks.labels_in_range(who, "test", y_test, num_classes, inferred=True)
    return Dataset(
        name=name,
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        num_classes=num_classes,
        input_shape=(int(x_train.shape[1]), int(x_train.shape[2]), int(x_train.shape[3])),
        source="real",
        origin=f"user loader {name}",
        preprocessing=(),
        fallback_reason=None,
    )


def _check_call(who: str, loader: Callable[..., Any], options: Mapping[str, Any]) -> None:
    """The loader takes `options` as keyword arguments (unknowable signatures pass)."""
    try:
        signature = inspect.signature(loader)
    except (TypeError, ValueError):
        return
    try:
        signature.bind(**options)
    except TypeError as exc:
        received = ", ".join(f"{key}={value!r}" for key, value in options.items()) or "none"
        raise DataCheckError(
            f"{who} cannot be called with the options given to @pytest_cnnperf.dataset "
            f"({exc}). Received: {received}"
        ) from None
