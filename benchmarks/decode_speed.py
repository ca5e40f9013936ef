"""How long the image-folder decoder (Pillow, threads) takes against a tf.data pipeline.

Writes ``--images`` JPEG files of ILSVRC-like sizes (about 500x375, smooth
random content with grain, quality 90) to a temporary folder, then decodes
and resizes them to ``--size`` alternately with ``image_folder.decode_images``
and with the ``tf.data`` pipeline the image folder used before (parallel map of
``tf.io.decode_image`` with TensorFlow's default, fast integer DCT, bilinear
``tf.image.resize``, rounding), each ``--rounds`` times in one process.
Usage::

    PYTHONPATH=. python benchmarks/decode_speed.py --images 400 --size 227 --rounds 5

Prints the median and range of each, the ratio of the medians, and how far
the pixels of the two differ (the DCTs differ; with TensorFlow's accurate DCT
they are equal, tests/test_datasets_formats.py).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from pytest_cnnperf.backends.imports import import_tensorflow
from pytest_cnnperf.datasets.image_folder import decode_images


def write_photos(folder: Path, count: int, seed: int = 0) -> list[Path]:
    rng = np.random.default_rng(seed)
    paths = []
    for index in range(count):
        height, width = (375, 500) if index % 3 else (500, 375)
        coarse = rng.integers(0, 256, (height // 8 + 2, width // 8 + 2, 3), np.uint8)
        smooth = Image.fromarray(coarse).resize((width, height), Image.Resampling.BICUBIC)
        grain = rng.integers(-12, 13, (height, width, 3))
        pixels = np.clip(np.asarray(smooth, np.int16) + grain, 0, 255).astype(np.uint8)
        paths.append(folder / f"{index:05d}.jpg")
        Image.fromarray(pixels).save(paths[-1], quality=90)
    return paths


def tensorflow_decode(paths: list[Path], size: tuple[int, int]) -> np.ndarray:
    tf = import_tensorflow()

    def load(path: object) -> object:
        image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
        image.set_shape([None, None, 3])
        image = tf.image.resize(image, size, method="bilinear")
        return tf.cast(tf.clip_by_value(tf.round(image), 0.0, 255.0), tf.uint8)

    dataset = (
        tf.data.Dataset.from_tensor_slices([str(p) for p in paths])
        .map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        .batch(256)
    )
    return np.concatenate([batch.numpy() for batch in dataset])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=400)
    parser.add_argument("--size", type=int, default=227, help="target height and width")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    size = (args.size, args.size)
    with tempfile.TemporaryDirectory() as folder:
        paths = write_photos(Path(folder), args.images)
        kinds = {
            "pillow": lambda: decode_images(paths, size, 3),
            "tf.data": lambda: tensorflow_decode(paths, size),
        }
        tensorflow_decode(paths[:2], size)  # TensorFlow's start-up is not the decoder's time
        seconds: dict[str, list[float]] = {name: [] for name in kinds}
        results = {}
        for _ in range(args.rounds):
            for name, decode in kinds.items():
                started = time.perf_counter()
                results[name] = decode()
                seconds[name].append(time.perf_counter() - started)
    difference = np.abs(results["pillow"].astype(int) - results["tf.data"].astype(int))
    print(f"{args.images} JPEG files (about 500x375) -> {size}, {args.rounds} rounds, alternating")
    print(f"pixel difference: max {difference.max()}, mean {difference.mean():.3f} levels")
    for name, values in seconds.items():
        print(
            f"{name:8s} median {statistics.median(values):.3f} s "
            f"(range {min(values):.3f} to {max(values):.3f})"
        )
    ratio = statistics.median(seconds["pillow"]) / statistics.median(seconds["tf.data"])
    print(f"pillow / tf.data: {ratio:.2f}x")


if __name__ == "__main__":
    main()
