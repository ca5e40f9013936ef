"""What a baseline is stored for and what a test run measures.

``HardwareKey`` names the machine a baseline belongs to: one file per key.
``Measurement`` holds one test's figures from the current run. Software
versions travel beside them as a plain ``Mapping[str, str]`` fingerprint: they
are recorded with each accepted baseline, never part of the key, so that an
upgrade of TensorFlow is compared against the figures it might have changed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, TypeAlias

DeviceKind: TypeAlias = Literal["cpu", "gpu"]
DataSource: TypeAlias = Literal["real", "synthetic"]
Software: TypeAlias = Mapping[str, str]
"""Software fingerprint, e.g. ``{"python": "3.11.7", "tensorflow": "2.21.0"}``."""

DEVICE_KINDS: tuple[DeviceKind, ...] = ("cpu", "gpu")
DATA_SOURCES: tuple[DataSource, ...] = ("real", "synthetic")

# Marketing marks and the clock suffix say nothing that tells two devices
# apart, and "(R)" would otherwise become a lone "r" in every CPU slug.
_SLUG_NOISE = re.compile(r"\((?:r|tm|c)\)|[®™]|@.*$|\b(?:cpu|processor)\b")
_SLUG_SEPARATORS = re.compile(r"[^a-z0-9]+")


def _slug_part(text: str) -> str:
    cleaned = _SLUG_NOISE.sub(" ", text.lower())
    return _SLUG_SEPARATORS.sub("-", cleaned).strip("-") or "unknown"


@dataclass(frozen=True)
class HardwareKey:
    """The machine a set of baselines was measured on.

    Args:
        device_kind: ``"cpu"`` or ``"gpu"``, whichever trained the model.
        device_model: the CPU brand string or the GPU name,
            e.g. ``"NVIDIA A100-SXM4-40GB"``.
        device_count: CPU cores available to the run, or GPUs used.
        precision: the Keras dtype policy, e.g. ``"float32"`` or
            ``"mixed_float16"``.
    """

    device_kind: DeviceKind
    device_model: str
    device_count: int
    precision: str

    def __post_init__(self) -> None:
        if self.device_kind not in DEVICE_KINDS:
            raise ValueError(
                "Expected device_kind to be 'cpu' or 'gpu'. "
                f"Received: device_kind={self.device_kind!r}"
            )
        if isinstance(self.device_count, bool) or not isinstance(self.device_count, int):
            raise ValueError(
                "Expected device_count to be a whole number of cores or GPUs. "
                f"Received: device_count={self.device_count!r}"
            )
        if self.device_count < 1:
            raise ValueError(
                "Expected device_count to be at least 1 (cores for a CPU, GPUs for a GPU). "
                f"Received: device_count={self.device_count!r}"
            )

    def slug(self) -> str:
        """A stable, file-name-safe name for this key.

        For example ``cpu-intel-xeon-platinum-8375c-2c-float32`` or
        ``gpu-nvidia-a100-sxm4-40gb-1gpu-mixed-float16``. Different keys can
        share a slug (``"Xeon(R)"`` and ``"Xeon"``); the stored hardware block
        tells them apart when the file is loaded.
        """
        count = f"{self.device_count}c" if self.device_kind == "cpu" else f"{self.device_count}gpu"
        parts = (self.device_kind, _slug_part(self.device_model), count, _slug_part(self.precision))
        return "-".join(parts)

    def describe(self) -> str:
        """One line for messages, e.g. ``cpu 'Intel Xeon' x2, float32``."""
        return f"{self.device_kind} {self.device_model!r} x{self.device_count}, {self.precision}"


def _check_positive_samples(name: str, values: tuple[float, ...]) -> None:
    if not values:
        raise ValueError(
            f"Expected {name} to hold at least one measured epoch. Received: {name}=()"
        )
    for value in values:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(
                f"Expected every value in {name} to be a number. Received: {name}={values!r}"
            )
        if not math.isfinite(value) or value <= 0:
            raise ValueError(
                f"Expected every value in {name} to be a finite number above 0. "
                f"Received: {name}={values!r}"
            )


@dataclass(frozen=True)
class Measurement:
    """One test's figures from this run.

    Args:
        node_id: the pytest node id, the key of the baseline entry.
        model: model registry name, e.g. ``"lenet5"``.
        dataset: dataset name, e.g. ``"mnist"``.
        batch_size: images per training step.
        epoch_seconds: wall time of every measured (non-warm-up) epoch, all
            repeats pooled.
        images_per_second: training throughput of the same epochs, in order.
        accuracy: held-out top-1 accuracy in 0..1, or None if not evaluated.
        data_source: ``"real"`` or ``"synthetic"`` data.
    """

    node_id: str
    model: str
    dataset: str
    batch_size: int
    epoch_seconds: tuple[float, ...]
    images_per_second: tuple[float, ...]
    accuracy: float | None
    data_source: DataSource

    def __post_init__(self) -> None:
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int):
            raise ValueError(
                "Expected batch_size to be a whole number. "
                f"Received: batch_size={self.batch_size!r}"
            )
        if self.batch_size < 1:
            raise ValueError(
                f"Expected batch_size to be at least 1. Received: batch_size={self.batch_size!r}"
            )
        _check_positive_samples("epoch_seconds", self.epoch_seconds)
        _check_positive_samples("images_per_second", self.images_per_second)
        if len(self.images_per_second) != len(self.epoch_seconds):
            raise ValueError(
                "Expected one images_per_second value per measured epoch "
                f"({len(self.epoch_seconds)} epoch_seconds values). "
                f"Received: images_per_second={self.images_per_second!r}"
            )
        if self.accuracy is not None and not (
            isinstance(self.accuracy, (int, float))
            and not isinstance(self.accuracy, bool)
            and 0.0 <= self.accuracy <= 1.0
        ):
            raise ValueError(
                "Expected accuracy to be a fraction between 0 and 1, or None if the test did "
                f"not evaluate the model. Received: accuracy={self.accuracy!r}"
            )
        if self.data_source not in DATA_SOURCES:
            raise ValueError(
                "Expected data_source to be 'real' or 'synthetic'. "
                f"Received: data_source={self.data_source!r}"
            )
