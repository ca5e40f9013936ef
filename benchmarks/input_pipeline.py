"""Share of a LeNet-5 training epoch spent waiting for input, on this machine.

Method: the same compiled LeNet-5 (``pytest_cnnperf.models.build("lenet5")`` at
28x28x1) trains one epoch at a time, alternating between two feeds with the
same number of steps and the same batch shapes:

- *pipeline*: the backend's training pipeline over the data set, as the
  runner feeds ``model.fit`` (``Inputs.training``: on TensorFlow the
  ``tf.data`` pipeline, a seeded shuffle of the indices, gather per batch,
  prefetch; on JAX and PyTorch the host-array ``PyDataset`` with its prefetch
  thread);
- *resident*: one batch taken from that pipeline and repeated (on TensorFlow
  ``from_tensors(batch).repeat(steps)``, elsewhere a ``PyDataset`` that hands
  back the same arrays; the last batch cut to the same partial size), so that
  producing a batch costs next to nothing.

The two feeds alternate epoch by epoch (the order flipping every repeat) after
one warm-up epoch of each. Each adjacent pair gives a waiting share
``(pipeline epoch - resident epoch) / pipeline epoch``; the figure is the
median over the pairs. Pairing and the median matter on a shared 2-core
machine, where a neighbour's burst can double a single epoch. The same is
reported for the process's CPU time (``time.process_time``, all threads),
which counts the input work the pipeline adds even where it overlaps with
training and is less disturbed by other processes. Last, the time to iterate
the pipeline alone for one epoch (no model) is given as a share of the
pipeline epoch: the input work there would be if none of it overlapped.

The data are the real MNIST test set (8,000 images carved from it, as the CPU
suites use) when ``--data-dir`` holds it, else synthetic images of the same
shape; the script says which.

Usage: python benchmarks/input_pipeline.py [--data-dir ../shared/datasets]
           [--batch-size 128] [--repeats 9] [--train-size 8000]
           [--backend tensorflow|jax|torch]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from pathlib import Path
from typing import Any

from pytest_cnnperf import backends
from pytest_cnnperf.backends.imports import import_keras, import_tensorflow
from pytest_cnnperf.datasets import load, prepare

REPO_ROOT = Path(__file__).resolve().parents[1]


def resident_feed(pipeline: Any, count: int, batch_size: int) -> Any:
    """One pipeline batch, repeated for an epoch of `count` images."""
    if backends.current().name != "tensorflow":
        return _resident_host_feed(pipeline, count, batch_size)
    tf = import_tensorflow()
    images, labels = next(iter(pipeline))
    images, labels = tf.identity(images), tf.identity(labels)
    full_steps, rest = divmod(count, batch_size)
    feed = tf.data.Dataset.from_tensors((images, labels)).repeat(full_steps)
    if rest:
        feed = feed.concatenate(tf.data.Dataset.from_tensors((images[:rest], labels[:rest])))
    return feed.prefetch(tf.data.AUTOTUNE)


def _resident_host_feed(pipeline: Any, count: int, batch_size: int) -> Any:
    import numpy as np

    keras = import_keras()
    images, labels = (np.asarray(part) for part in pipeline[0])
    steps = math.ceil(count / batch_size)
    rest = count - (steps - 1) * batch_size

    class Resident(keras.utils.PyDataset):  # type: ignore[misc,name-defined]
        def __len__(self) -> int:
            return steps

        def __getitem__(self, index: int) -> tuple[Any, Any]:
            if index == steps - 1 and rest < batch_size:
                return images[:rest], labels[:rest]
            return images, labels

    return Resident()


def timed_epoch(model: Any, feed: Any) -> tuple[float, float]:
    """Wall and CPU seconds of one `model.fit` epoch on `feed`."""
    wall, cpu = time.perf_counter(), time.process_time()
    model.fit(feed, epochs=1, verbose=0, shuffle=False)
    return time.perf_counter() - wall, time.process_time() - cpu


def iterate_only(feed: Any) -> float:
    start = time.perf_counter()
    if backends.current().name == "tensorflow":
        for _ in feed:
            pass
    else:
        for index in range(len(feed)):
            feed[index]
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=str(REPO_ROOT / ".." / "shared" / "datasets"))
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--train-size", type=int, default=8000)
    parser.add_argument("--backend", choices=backends.NAMES, default=backends.DEFAULT)
    args = parser.parse_args()

    backends.select(args.backend, "--backend")
    keras = import_keras()
    from pytest_cnnperf.models import build

    ds = load(
        "mnist",
        data_dir=args.data_dir,
        split="test",
        train_size=args.train_size,
        test_size=10_000 - args.train_size,
    )
    ds = prepare(ds, input_shape=(28, 28, 1), input_scale="unit")
    inputs = backends.current().inputs
    pipeline = inputs.training(
        ds.x_train,
        ds.y_train,
        batch_size=args.batch_size,
        seed=0,
        augmentation_layers=None,
        steps=None,
    )
    resident = resident_feed(pipeline, len(ds.x_train), args.batch_size)

    keras.utils.set_random_seed(0)
    model = build("lenet5", input_shape=(28, 28, 1))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    timed_epoch(model, pipeline)  # warm-up: tracing, thread pools, autotuning
    timed_epoch(model, resident)

    with_pipeline: list[tuple[float, float]] = []
    with_resident: list[tuple[float, float]] = []
    alone: list[float] = []
    for repeat in range(args.repeats):
        if repeat % 2:
            with_resident.append(timed_epoch(model, resident))
            with_pipeline.append(timed_epoch(model, pipeline))
        else:
            with_pipeline.append(timed_epoch(model, pipeline))
            with_resident.append(timed_epoch(model, resident))
        alone.append(iterate_only(pipeline))

    steps = math.ceil(len(ds.x_train) / args.batch_size)
    pipeline_wall = [wall for wall, _ in with_pipeline]
    print(f"data: {ds.source} {ds.name}, {len(ds.x_train)} images ({ds.origin})")
    print(
        f"LeNet-5 28x28x1 on {args.backend}, batch {args.batch_size}, {steps} steps, "
        f"{args.repeats} repeats"
    )
    print(f"epoch with the pipeline       {_spread(pipeline_wall)}")
    print(f"epoch with a resident batch   {_spread([wall for wall, _ in with_resident])}")
    print(f"pipeline iterated alone       {_spread(alone)}")
    wall_share = _paired_share(with_pipeline, with_resident, 0)
    cpu_share = _paired_share(with_pipeline, with_resident, 1)
    print(f"share of the epoch waiting for input: {wall_share:.1%} (target < 5%)")
    print(f"extra CPU time the pipeline costs:   {cpu_share:.1%}")
    share_alone = statistics.median(alone) / statistics.median(pipeline_wall)
    print(f"pipeline alone / pipeline epoch:     {share_alone:.1%}")


def _paired_share(
    pipeline: list[tuple[float, float]], resident: list[tuple[float, float]], index: int
) -> float:
    """Median over adjacent epoch pairs of (pipeline - resident) / pipeline."""
    shares = [(p[index] - r[index]) / p[index] for p, r in zip(pipeline, resident, strict=True)]
    return statistics.median(shares)


def _spread(values: list[float]) -> str:
    return (
        f"min {min(values):.3f} s, median {statistics.median(values):.3f} s, "
        f"max {max(values):.3f} s"
    )


if __name__ == "__main__":
    main()
