"""The TensorFlow backend's input pipeline: `tf.data` keeping the measured epoch the model's work.

The arrays become tensors once; an epoch shuffles only the int64 indices
(seeded, reshuffled each epoch), gathers each batch from the resident tensors
in a parallel map, applies augmentation layers per batch, and prefetches. No
Python runs per epoch or per step: everything is in the `tf.data` graph.
`pytest_cnnperf.datasets` re-exports `training_pipeline` and
`evaluation_pipeline`; the other backends feed host arrays (`host_inputs`).
TensorFlow is imported inside the functions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pytest_cnnperf.datasets.core import Array, check_batchable

if TYPE_CHECKING:
    import tensorflow as tf


def _indexed(x: Array, y: Array) -> tuple[Any, Any, Any]:
    """The tensors, made once, and a function gathering a batch of indices from them."""
    from pytest_cnnperf.backends.imports import import_tensorflow

    tf_module = import_tensorflow()
    images = tf_module.convert_to_tensor(x)
    labels = tf_module.convert_to_tensor(y)

    def gather(indices: Any) -> tuple[Any, Any]:
        return tf_module.gather(images, indices), tf_module.gather(labels, indices)

    return tf_module, gather, len(x)


def training_pipeline(
    x: Array,
    y: Array,
    *,
    batch_size: int,
    seed: int,
    shuffle: bool = True,
    augmentation_layers: Sequence[Any] | None = None,
) -> tf.data.Dataset:
    """Batches of `(images, labels)` for `model.fit`, one pass over `x` per epoch.

    Args:
        x: Images, already prepared (float32 NHWC).
        y: Labels (int class ids or one-hot rows).
        batch_size: Images per batch; the last batch of an epoch may be smaller.
        seed: Shuffle seed; the order differs per epoch and repeats per seed.
        shuffle: False keeps the order of `x`.
        augmentation_layers: Keras layers applied in order to each batch, in
            training mode, inside the pipeline (e.g. `RandomFlip`).

    Returns:
        A prefetched `tf.data.Dataset`.
    """
    check_batchable(x, y, batch_size)
    tf_module, gather, count = _indexed(x, y)
    autotune = tf_module.data.AUTOTUNE
    dataset = tf_module.data.Dataset.range(count)
    if shuffle:
        # Only the indices go through the shuffle buffer, not the images.
        dataset = dataset.shuffle(count, seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size).map(gather, num_parallel_calls=autotune)
    if augmentation_layers:
        layers = list(augmentation_layers)

        def augment(images: Any, labels: Any) -> tuple[Any, Any]:
            for layer in layers:
                images = layer(images, training=True)
            return images, labels

        dataset = dataset.map(augment, num_parallel_calls=autotune)
    return dataset.prefetch(autotune)


def evaluation_pipeline(x: Array, y: Array, *, batch_size: int) -> tf.data.Dataset:
    """Batches of `(images, labels)` in order, for `model.evaluate`."""
    check_batchable(x, y, batch_size)
    tf_module, gather, count = _indexed(x, y)
    autotune = tf_module.data.AUTOTUNE
    dataset = tf_module.data.Dataset.range(count).batch(batch_size)
    return dataset.map(gather, num_parallel_calls=autotune).prefetch(autotune)
