"""ImageNet-style folders of images, one folder per class.

Two layouts are accepted:

- `root/train/<class>/*.jpg|png|...` and `root/val/<class>/...`, as ILSVRC
  subsets are usually unpacked (seed 002 trained on ten ILSVRC classes);
- `root/<class>/*`, one folder per class, split into train and test by seed.

Class names sorted alphabetically give the label ids. Images are decoded
by Pillow, in threads, and resized to `image_size` by the bilinear resize
`tf.image.resize` computes (`pixels.resize_bilinear`; aspect ratio not kept),
the same on every Keras backend, with no TensorFlow.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, ClassVar, cast

import numpy as np

from pytest_cnnperf import cores
from pytest_cnnperf.datasets.core import Array, DatasetCorrupt, DatasetError, DatasetUsageError
from pytest_cnnperf.datasets.pixels import luminance, resize_bilinear
from pytest_cnnperf.datasets.source import Located, Options, Part, Raw, Source, Split
from pytest_cnnperf.datasets.subsets import stratified_split

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif"})
_SUFFIX_TEXT = ", ".join(sorted(IMAGE_SUFFIXES))
# Pillow's modes of grey images (16-bit grey opens as one of the first four).
_SIXTEEN_BIT_GREY = frozenset({"I;16", "I;16B", "I;16L", "I"})
_GREY_MODES = frozenset({"1", "L", "LA", "La"})
# Per-class sizes of an ILSVRC-2012 class: about 1,300 train and 50 val images.
_NOMINAL_TRAIN_PER_CLASS, _NOMINAL_VAL_PER_CLASS = 1_300, 50


def _subfolders(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _images(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.iterdir()
        if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".") and p.is_file()
    )


def decode_images(paths: list[Path], size: tuple[int, int], channels: int) -> Array:
    """Decode and resize `paths` into a uint8 NHWC array, in order.

    Pillow decodes the files in a pool of threads, one per core this process
    may use: its decoders release the GIL.

    Raises:
        DatasetCorrupt: Naming the first file, in order, that cannot be decoded.
    """
    height, width = size
    images = np.empty((len(paths), height, width, channels), np.uint8)
    if not paths:
        return images
    with ThreadPoolExecutor(max_workers=min(len(paths), cores.usable())) as pool:
        for index, image in enumerate(
            pool.map(lambda path: decode_image(path, size, channels), paths)
        ):
            images[index] = image
    return images


def decode_image(path: Path, size: tuple[int, int], channels: int) -> Array:
    """One file as a ``size`` x ``channels`` uint8 array.

    The first frame of an animation; alpha dropped, not blended; palettes
    expanded; 16-bit grey by its high byte; RGB to grey by
    ``pixels.LUMA_WEIGHTS``, grey to RGB by repeating the plane; then the
    bilinear resize ``tf.image.resize`` computes, rounded half to even once,
    at the end. EXIF orientation is not applied.

    Raises:
        DatasetCorrupt: ``path`` cannot be decoded.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            pixels = _float_pixels(image, channels)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        # Pillow's own text for an unknown format repeats the path.
        why = "not a format Pillow reads" if isinstance(exc, UnidentifiedImageError) else exc
        raise DatasetCorrupt(
            f"{path} could not be decoded as an image ({why}). Expected a "
            f"readable image ({_SUFFIX_TEXT}); replace or remove the file."
        ) from None
    resized: Array = resize_bilinear(pixels[np.newaxis], size)[0]
    return np.clip(np.rint(resized), 0.0, 255.0).astype(np.uint8)


def _float_pixels(image: Any, channels: int) -> Array:
    """A PIL ``image`` as an HxWx``channels`` float32 array of 0..255 values."""
    if image.mode in _SIXTEEN_BIT_GREY:
        grey = (np.asarray(image, dtype=np.uint32) >> 8).astype(np.float32)[..., np.newaxis]
    elif image.mode in _GREY_MODES:
        grey = np.asarray(image.convert("L"), dtype=np.float32)[..., np.newaxis]
    else:
        rgb: Array = np.asarray(image.convert("RGB"), dtype=np.float32)
        return rgb if channels == 3 else luminance(rgb)
    return grey if channels == 1 else np.repeat(grey, 3, axis=-1)


def _image_size(value: object) -> tuple[int, int]:
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value, value)
    if (
        isinstance(value, (tuple, list))
        and len(value) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)
    ):
        return (int(value[0]), int(value[1]))
    raise DatasetUsageError(
        "Expected image_size to be a positive int or a (height, width) pair of them, "
        f"such as 224 or (227, 227). Received: image_size={value!r}"
    )


class ImageFolderSource(Source):
    """Class folders of JPEG/PNG images (an ImageNet subset, or any such tree)."""

    name = "image_folder"
    title = "image-folder"
    defaults: ClassVar[Mapping[str, object]] = {
        "image_size": 224,
        "channels": 3,
        "val_fraction": 0.2,
        "root": None,
        "num_classes": None,
    }

    def check_options(self, options: dict[str, object]) -> dict[str, object]:
        options["image_size"] = _image_size(options["image_size"])
        if options["channels"] not in (1, 3) or isinstance(options["channels"], bool):
            raise DatasetUsageError(
                "Expected channels to be 1 (grey) or 3 (RGB). "
                f"Received: channels={options['channels']!r}"
            )
        fraction = options["val_fraction"]
        if not isinstance(fraction, float) or not 0.0 < fraction < 1.0:
            raise DatasetUsageError(
                "Expected val_fraction to be a float strictly between 0 and 1, the share of "
                "a single class-folder root held out for testing. "
                f"Received: val_fraction={fraction!r}"
            )
        if options["root"] is not None:
            if not isinstance(options["root"], (str, os.PathLike)):
                raise DatasetUsageError(
                    "Expected root to be a path to the image folder. "
                    f"Received: root={options['root']!r}"
                )
            options["root"] = Path(os.fspath(options["root"])).expanduser()
        count = options["num_classes"]
        if count is not None and (
            not isinstance(count, int) or isinstance(count, bool) or count < 1
        ):
            raise DatasetUsageError(
                "Expected num_classes to be a positive int (or None to count the class "
                f"folders). Received: num_classes={count!r}"
            )
        return options

    def fixed_place(self, options: Options) -> Path | None:
        root = options["root"]
        return root if isinstance(root, Path) else None

    def input_shape(self, options: Options) -> tuple[int, int, int]:
        height, width = _image_size(options["image_size"])
        return (height, width, cast(int, options["channels"]))

    def num_classes(self, options: Options) -> int:
        count = options["num_classes"]
        return count if isinstance(count, int) else 10

    def nominal_sizes(self, options: Options) -> tuple[int, int]:
        classes = self.num_classes(options)
        return (classes * _NOMINAL_TRAIN_PER_CLASS, classes * _NOMINAL_VAL_PER_CLASS)

    def probe(self, directory: Path, split: Split, options: Options) -> Located | str:
        if not directory.is_dir():
            return "does not exist"
        train, val = directory / "train", directory / "val"
        if train.is_dir() or val.is_dir():
            needed = [val] if split == "test" else [train, val]
            absent = [f"{p.name}/" for p in needed if not p.is_dir()]
            if absent:
                return f"lacks {', '.join(absent)}"
            classes = [p.name for p in _subfolders(train if train.is_dir() else val)]
            files: list[Path] = []
            for folder in needed:
                files.extend(self._class_images(folder, classes))
            return Located(directory, tuple(files), "train-val", tuple(classes))
        folders = _subfolders(directory)
        per_class = [_images(folder) for folder in folders]
        if folders and all(per_class):
            files = [path for images in per_class for path in images]
            return Located(directory, tuple(files), "single", tuple(p.name for p in folders))
        return "holds neither train/ and val/ folders nor only class folders of images"

    def _class_images(self, folder: Path, classes: list[str]) -> list[Path]:
        subfolders = _subfolders(folder)
        strangers = sorted(p.name for p in subfolders if p.name not in classes)
        if strangers:
            raise DatasetCorrupt(
                f"{folder} has class folders that train/ lacks. Expected the classes of "
                f"val/ to be among those of train/. Received: {strangers}"
            )
        if not subfolders:
            raise DatasetCorrupt(
                f"{folder} holds no class folders. Expected one folder of images per class."
            )
        files: list[Path] = []
        for sub in subfolders:
            images = _images(sub)
            if not images and folder.name == "train":
                raise DatasetCorrupt(
                    f"{sub} holds no images ({_SUFFIX_TEXT}). Expected at least one image "
                    "in every class folder; add images or remove the folder."
                )
            files.extend(images)
        return files

    def read(self, located: Located, split: Split, options: Options, seed: int) -> Raw:
        classes = located.classes
        wanted = options["num_classes"]
        if isinstance(wanted, int) and wanted != len(classes):
            raise DatasetError(
                f"{located.directory} has {len(classes)} class folders. Expected "
                f"{wanted} (num_classes={wanted}); pass num_classes=None to count them."
            )
        label_of = {name: index for index, name in enumerate(classes)}
        size = _image_size(options["image_size"])
        channels = cast(int, options["channels"])
        steps: tuple[str, ...] = (
            f"decoded (Pillow) and resized to {size[0]}x{size[1]}x{channels} "
            "(bilinear, as tf.image.resize)",
        )
        paths = np.array([str(p) for p in located.files])
        labels = np.array([label_of[p.parent.name] for p in located.files], dtype=np.int64)
        if located.layout == "train-val":
            in_val = np.array([p.parent.parent.name == "val" for p in located.files])
            train_idx, test_idx = np.flatnonzero(~in_val), np.flatnonzero(in_val)
            origin = f"{located.directory} (train/ and val/, {len(classes)} classes)"
        else:
            fraction = cast(float, options["val_fraction"])
            held_out = min(len(labels) - 1, max(1, round(fraction * len(labels))))
            rng = np.random.default_rng([seed, 3])
            (test_idx,) = stratified_split(labels, (held_out,), rng)
            train_idx = np.setdiff1d(np.arange(len(labels)), test_idx)
            origin = f"{located.directory} (class folders, {len(classes)} classes)"
            steps += (
                f"split {len(train_idx)}/{len(test_idx)} from one class-folder root, "
                f"stratified (seed {seed})",
            )

        def part(indices: Array) -> Part:
            chosen = paths[indices]

            def take(subset: Array | None) -> Array:
                files = chosen if subset is None else chosen[subset]
                return decode_images([Path(p) for p in files], size, channels)

            return Part(labels=labels[indices], take=take)

        train = None if split == "test" else part(train_idx)
        return Raw(train, part(test_idx), len(classes), origin, steps)

    def files_help(self, split: Split, options: Options) -> str:
        folders = "val/<class>/" if split == "test" else "train/<class>/ and val/<class>/"
        return (
            f"images ({_SUFFIX_TEXT}) in {folders} folders, or in one folder per class; "
            "the option root=PATH names the folder directly"
        )
