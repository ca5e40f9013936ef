"""How long the NumPy bilinear resize (``datasets.pixels``) takes against ``tf.image.resize``.

The two are run alternately in one process on the same random images, each
``--rounds`` times, and their pixels compared (they must be equal to the
bit). Usage::

    PYTHONPATH=. python benchmarks/resize_speed.py --images 1000 --size 227 --rounds 5

Prints the median and range of each, and the ratio of the medians.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from pytest_cnnperf.backends.imports import import_tensorflow
from pytest_cnnperf.datasets.pixels import resize_bilinear


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--source", type=int, default=32, help="source height and width")
    parser.add_argument("--size", type=int, default=227, help="target height and width")
    parser.add_argument("--channels", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    tf = import_tensorflow()
    shape = (args.images, args.source, args.source, args.channels)
    images = np.random.default_rng(0).integers(0, 256, shape).astype(np.float32)
    size = (args.size, args.size)
    kinds = {
        "numpy": lambda: resize_bilinear(images, size),
        "tensorflow": lambda: tf.image.resize(images, size, method="bilinear").numpy(),
    }
    seconds: dict[str, list[float]] = {name: [] for name in kinds}
    results = {}
    for _ in range(args.rounds):
        for name, resize in kinds.items():
            started = time.perf_counter()
            results[name] = resize()
            seconds[name].append(time.perf_counter() - started)
    equal = np.array_equal(results["numpy"], results["tensorflow"])
    print(f"{args.images} images {args.source}x{args.source}x{args.channels} -> {size}, ")
    print(f"{args.rounds} rounds, alternating; pixels equal to the bit: {equal}")
    for name, values in seconds.items():
        print(
            f"  {name:10s} median {statistics.median(values):.3f} s "
            f"(min {min(values):.3f}, max {max(values):.3f})"
        )
    ratio = statistics.median(seconds["numpy"]) / statistics.median(seconds["tensorflow"])
    print(f"  numpy / tensorflow: {ratio:.1f}x")


if __name__ == "__main__":
    main()
