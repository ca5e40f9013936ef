"""Host-array input pipelines for the backends without ``tf.data`` (JAX, PyTorch).

A ``keras.utils.PyDataset`` over NumPy arrays: batch ``i`` of pass ``p`` is
gathered from the arrays through pass ``p``'s permutation (seeded by
``[seed, p]``, so that every pass has its own order and a seed repeats them),
augmented by the recipe's Keras layers in training mode, and prefetched by
one worker thread (``max_queue_size`` batches ahead), as ``tf.data``'s
prefetch does on TensorFlow. The last batch of a pass may be smaller, as
there.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from pytest_cnnperf.backends.imports import import_keras
from pytest_cnnperf.datasets.core import check_batchable

#: Batches the worker thread prepares ahead of the training step.
PREFETCH_BATCHES = 4


def host_batches(
    x: Any,
    y: Any,
    *,
    batch_size: int,
    seed: int | None,
    augmentation_layers: Sequence[Any] | None = None,
    steps: int | None = None,
    passes: int | None = 1,
) -> Any:
    """A prefetched ``PyDataset`` of ``(images, labels)`` batches.

    Args:
        x, y: the prepared images and their labels.
        batch_size: images per batch.
        seed: the shuffle seed; None keeps the order of ``x``.
        augmentation_layers: Keras layers applied in order, in training mode.
        steps: batches per pass (the first ``steps`` of each), or all of them.
        passes: passes over the data; None for a pipeline without end.
    """
    check_batchable(x, y, batch_size)
    arguments = {
        "batch_size": batch_size,
        "seed": seed,
        "augmentation_layers": augmentation_layers,
        "steps": steps,
    }
    keras = import_keras()
    per_pass = math.ceil(len(x) / batch_size)
    if steps is not None:
        per_pass = min(per_pass, steps)
    layers = list(augmentation_layers or ())

    class HostBatches(keras.utils.PyDataset):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            super().__init__(workers=1, use_multiprocessing=False, max_queue_size=PREFETCH_BATCHES)
            self.per_pass = per_pass
            self.passes = passes
            self.arrays = (x, y)
            self.arguments = arguments
            self._orders: dict[int, Any] = {}

        def order(self, index: int) -> Any:
            if seed is None:
                return None
            if index not in self._orders:
                self._orders.clear()
                self._orders[index] = np.random.default_rng([seed, index]).permutation(len(x))
            return self._orders[index]

        @property
        def num_batches(self) -> int | None:
            return None if self.passes is None else self.per_pass * self.passes

        def __len__(self) -> int:
            count = self.num_batches
            if count is None:
                raise TypeError("an endless pipeline has no length")
            return count

        def __getitem__(self, index: int) -> tuple[Any, Any]:
            pass_index, batch = divmod(index, self.per_pass)
            order = self.order(pass_index)
            chosen = slice(batch * batch_size, (batch + 1) * batch_size)
            indices = np.arange(len(x))[chosen] if order is None else order[chosen]
            images, labels = x[indices], y[indices]
            for layer in layers:
                images = layer(images, training=True)
            return images, labels

    return HostBatches()


def repeated(pipeline: Any) -> Any:
    """``pipeline`` (from ``host_batches``) without end, each pass in its own order."""
    return host_batches(*pipeline.arrays, **pipeline.arguments, passes=None)


class HostInputs:
    """The ``Inputs`` of the backends without ``tf.data``: host arrays, prefetched."""

    def training(
        self,
        x: Any,
        y: Any,
        *,
        batch_size: int,
        seed: int,
        augmentation_layers: Sequence[Any] | None,
        steps: int | None,
    ) -> Any:
        return host_batches(
            x, y, batch_size=batch_size, seed=seed, augmentation_layers=augmentation_layers,
            steps=steps,
        )  # fmt: skip

    def evaluation(self, x: Any, y: Any, *, batch_size: int) -> Any:
        return host_batches(x, y, batch_size=batch_size, seed=None)

    def batches(self, pipeline: Any) -> int:
        return int(pipeline.per_pass)

    def repeat(self, pipeline: Any) -> Any:
        return repeated(pipeline)
