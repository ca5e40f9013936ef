"""`user_dataset`: a `Dataset` from what a test's own loader returns.

`@pytest_cnnperf.dataset(loader)` names a callable instead of a data set
name. It returns a `Dataset`, or `(x_train, y_train, x_test, y_test)` with
NHWC (or NHW) images and integer labels, which become a `Dataset` here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

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
    them all. A returned `Dataset` is used as it is.
    """
    loaded = loader(**options)
    if isinstance(loaded, Dataset):
        return loaded
    if not (isinstance(loaded, tuple) and len(loaded) == 4):
        raise TypeError(
            f"The data set loader {name!r} must return a pytest_cnnperf.datasets.Dataset "
            "or a tuple (x_train, y_train, x_test, y_test). "
            f"Received: {type(loaded).__name__}"
        )
    x_train, y_train, x_test, y_test = (np.asarray(a) for a in loaded)
    if x_train.ndim == 3:
        x_train, x_test = x_train[..., None], x_test[..., None]
    if x_train.ndim != 4 or x_train.shape[1:] != x_test.shape[1:]:
        raise ValueError(
            f"The data set loader {name!r} must return NHWC images of one shape. "
            f"Received: x_train.shape={x_train.shape}, x_test.shape={x_test.shape}"
        )
    x_train, y_train = x_train[:train_size], y_train[:train_size].astype("int64")
    x_test, y_test = x_test[:test_size], y_test[:test_size].astype("int64")
    return Dataset(
        name=name,
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        num_classes=int(max(y_train.max(initial=0), y_test.max(initial=0)) + 1),
        input_shape=(int(x_train.shape[1]), int(x_train.shape[2]), int(x_train.shape[3])),
        source="real",
        origin=f"user loader {name}",
        preprocessing=(),
        fallback_reason=None,
    )
