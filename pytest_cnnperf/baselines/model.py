"""What a baseline is stored for, what a test measured, and the verdict.

``HardwareKey`` names the machine a baseline belongs to: one file per key.
``Figures`` are one test's samples per metric with what makes them
comparable (model, data set, batch size, data source): the current run's and
a stored entry's have the same shape. Software versions travel beside them as
a plain ``Mapping[str, str]`` fingerprint: recorded with each accepted
baseline, never part of the key, so that an upgrade of TensorFlow is compared
against the figures it might have changed. ``Verdict`` is the one enum of
outcomes, used from the comparison to every output.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

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
        backend: the Keras backend, ``"tensorflow"``, ``"jax"`` or
            ``"torch"``: figures of two backends never compare as a regression.
    """

    device_kind: DeviceKind
    device_model: str
    device_count: int
    precision: str
    backend: str = "tensorflow"

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
        ``gpu-nvidia-a100-sxm4-40gb-1gpu-mixed-float16``, with the backend
        after it when it is not TensorFlow (``...-float32-jax``). Different keys can
        share a slug (``"Xeon(R)"`` and ``"Xeon"``); the stored hardware block
        tells them apart when the file is loaded.
        """
        count = f"{self.device_count}c" if self.device_kind == "cpu" else f"{self.device_count}gpu"
        parts = [self.device_kind, _slug_part(self.device_model), count, _slug_part(self.precision)]
        if self.backend != "tensorflow":
            # TensorFlow's files keep the names they had before other backends.
            parts.append(_slug_part(self.backend))
        return "-".join(parts)

    def describe(self) -> str:
        """One line for messages, e.g. ``cpu 'Intel Xeon' x2, float32`` (``, jax`` after
        it for a backend other than TensorFlow)."""
        text = f"{self.device_kind} {self.device_model!r} x{self.device_count}, {self.precision}"
        return text if self.backend == "tensorflow" else f"{text}, {self.backend}"


class Verdict(str, enum.Enum):
    """The outcome for one test (``str`` so that it serializes as its value).

    ``pass``, ``regressed``, ``improved`` and ``unstable`` come from a
    comparison; ``new`` means there is no comparable baseline and ``failed``
    that the test failed before a verdict.
    """

    PASS = "pass"
    REGRESSED = "regressed"
    IMPROVED = "improved"
    UNSTABLE = "unstable"
    NEW = "new"
    FAILED = "failed"


#: What a figure set is compared on: a baseline entry recorded with other
#: values of these is not comparable, whatever its figures.
SETUP_FIELDS = ("model", "dataset", "batch_size", "data_source")


@dataclass(frozen=True)
class Figures:
    """One test's samples per metric, and the set-up they were measured with.

    Args:
        node_id: the pytest node id, the key of the baseline entry.
        model: model registry name, e.g. ``"lenet5"``.
        dataset: data set name, e.g. ``"mnist"``.
        batch_size: images per training step.
        data_source: ``"real"`` or ``"synthetic"`` data.
        samples: metric name to its samples (non-empty tuples); a metric the
            test did not measure is absent.
        timing: the raw timing behind the timing metric, as plain data
            (windows, kernel figures, arrangement; see
            ``TestOutcome.timing``), or None. Stored with the baseline, shown
            in messages, never judged itself.
    """

    node_id: str
    model: str
    dataset: str
    batch_size: int
    data_source: DataSource
    samples: Mapping[str, tuple[float, ...]]
    timing: Mapping[str, Any] | None = None

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
        if self.data_source not in DATA_SOURCES:
            raise ValueError(
                "Expected data_source to be 'real' or 'synthetic'. "
                f"Received: data_source={self.data_source!r}"
            )
        for name, values in self.samples.items():
            if not values:
                raise ValueError(
                    f"Expected at least one sample of {name}. Received: samples[{name!r}]=()"
                )

    def setup(self) -> dict[str, object]:
        """The fields that make two figure sets comparable."""
        return {name: getattr(self, name) for name in SETUP_FIELDS}


@dataclass(frozen=True)
class Provenance:
    """Who accepted a baseline, when (UTC ISO 8601, to the second) and why."""

    accepted_at: str
    accepted_by: str
    reason: str | None
