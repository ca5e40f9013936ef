"""The Keras backend a session trains on, and one small interface per concern.

Keras 3 runs one model definition on TensorFlow, JAX or PyTorch, chosen by
``KERAS_BACKEND`` when Keras is first imported; a process cannot switch
afterwards. ``select`` decides it (from ``--cnnperf-backend`` or the
environment) before anything imports Keras, and ``current`` returns the
chosen backend's implementation of each concern:

* ``Devices``: discovery, pinning before the runtime starts, synchronization,
  device scopes, multi-device strategies and the GPUs' PCI bus ids (for NVML
  telemetry);
* ``Inputs``: the training and evaluation input pipelines (``tf.data`` on
  TensorFlow, host arrays with prefetch elsewhere);
* ``Numerics``: threads, precision (TF32), determinism and compilation;
* ``Software``: the backend's part of the software fingerprint;
* ``Profiler``: the profiled window's per-layer attribution, or why there is none.

Outside this package nothing imports TensorFlow: image folders are decoded
by Pillow on every backend, so that each trains on the same pixels
(docs/backends.md); ``tests/test_tensorflow_imports.py`` keeps it so.
``tfdata`` is the TensorFlow backend's ``tf.data`` input pipeline.

PYTEST_DONT_REWRITE: loaded in every pytest run (the backend is chosen at
start), so pytest must not parse and recompile it for assertion rewriting.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from pytest_cnnperf.devices import Placement

if TYPE_CHECKING:
    from pytest_cnnperf.layerprofile import LayerProfile
    from pytest_cnnperf.layers import WindowSize

#: The backends Keras 3 runs on, in the order the side-by-side table lists them.
NAMES = ("tensorflow", "jax", "torch")
DEFAULT = "tensorflow"
#: How messages name each backend's framework.
FRAMEWORKS = {"tensorflow": "TensorFlow", "jax": "JAX", "torch": "PyTorch"}
#: The package each backend's framework is imported as.
PACKAGES = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}


class BackendError(ValueError):
    """The backend asked for cannot be used in this process; the message says why."""


class Devices(Protocol):
    def gpu_count(self) -> int:
        """Physical GPUs the backend can see (before pinning hides any)."""

    def missing_gpu_message(self) -> str | None:
        """Why ``--cnnperf-gpu`` cannot run (no GPU visible), or None."""

    def pin(self, *, gpu: bool, requested: int | None, worker_id: str | None) -> Placement:
        """Hide or select devices before the runtime starts; return the placement."""

    def synchronize(self) -> None:
        """Block until every device has finished the work queued so far."""

    def scope(self, device_name: str) -> AbstractContextManager[Any]:
        """A context in which new variables and operations live on ``device_name``."""

    def pci_bus_ids(self, device_names: Sequence[str]) -> dict[str, str] | str:
        """Device name -> PCI bus id for NVML, or a sentence saying why there are none."""

    def strategy(self, name: str, kind: str, count: int | None) -> Any:
        """The multi-device strategy ``name`` over ``count`` devices of ``kind`` (all: None).

        Raises:
            SettingsError: more devices than visible, or no such strategy here.
        """


class Inputs(Protocol):
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
        """Shuffled (per pass, seeded), augmented, prefetched batches for ``fit``."""

    def evaluation(self, x: Any, y: Any, *, batch_size: int) -> Any:
        """Batches in order for ``evaluate``."""

    def batches(self, pipeline: Any) -> int:
        """Batches in one pass of ``pipeline``."""

    def repeat(self, pipeline: Any) -> Any:
        """``pipeline`` without end, for ``fit`` with ``steps_per_epoch`` (windows)."""


class Numerics(Protocol):
    def share_threads(self, cores: int) -> None:
        """Use ``cores`` threads (before the runtime starts)."""

    def threads(self) -> int:
        """The intra-op threads in force (0: the backend's default, one per core)."""

    def configure(self, *, precision: str, deterministic: bool) -> None:
        """TF32 on only for ``precision == "tf32"``; deterministic kernels if asked."""

    def tf32(self) -> bool:
        """Whether float32 matrix products run in TF32 now."""

    def jit(self, requested: bool) -> bool:
        """The ``jit_compile`` the model is compiled with, given ``--cnnperf-jit``."""


class Software(Protocol):
    def fingerprint(self, *, gpu: bool) -> dict[str, str]:
        """Versions of the backend's packages (and CUDA/cuDNN builds on a GPU run)."""


class Profiler(Protocol):
    def layers_unavailable(self) -> str | None:
        """Why per-layer times are not measured on this backend, or None."""

    def instrument(self, keras_model: Any) -> None:
        """Name what the profile must tell apart, before the train function is traced.

        Only names change, never the computation; ``remove_instrumentation``
        undoes it after the profiled window.
        """

    def remove_instrumentation(self, keras_model: Any) -> None:
        """Undo ``instrument``."""

    def profile_window(
        self,
        keras_model: Any,
        pipeline: Any,
        *,
        batch_size: int,
        full_batches: bool,
        device: str,
        size: WindowSize,
        unprofiled_step_seconds: float | None,
        sync: Callable[[], None],
    ) -> LayerProfile:
        """Train ``size`` more steps on ``pipeline`` under the profiler and attribute them.

        ``pipeline`` is what ``Inputs.training`` made for the run; only full
        batches are used when ``full_batches``. A profiler that cannot start or
        a profile that cannot be attributed gives ``LayerProfile.skipped``
        with the reason.
        """


@dataclass(frozen=True)
class Backend:
    """One backend's implementation of every concern."""

    name: str
    devices: Devices
    inputs: Inputs
    numerics: Numerics
    software: Software
    profiler: Profiler


def check_name(name: object, source: str) -> str:
    """``name`` if it is a backend Keras 3 runs on.

    Raises:
        BackendError: it is not one of ``NAMES``.
    """
    if not isinstance(name, str) or name.strip().lower() not in NAMES:
        raise BackendError(
            f"Expected {source} to be one of {', '.join(NAMES)}. Received: {source}={name!r}"
        )
    return name.strip().lower()


def requested() -> str:
    """The backend ``KERAS_BACKEND`` names (TensorFlow when it is unset).

    Raises:
        BackendError: ``KERAS_BACKEND`` names no backend Keras 3 runs on.
    """
    return check_name(os.environ.get("KERAS_BACKEND", DEFAULT), "KERAS_BACKEND")


def select(name: str, source: str = "--cnnperf-backend") -> str:
    """Make ``name`` this process's Keras backend; it must come before Keras' import.

    Raises:
        BackendError: the name is not a backend, or Keras was already imported
            with another one.
    """
    chosen = check_name(name, source)
    keras = sys.modules.get("keras")
    if keras is not None:
        loaded = str(keras.backend.backend())
        if loaded != chosen:
            raise BackendError(
                f"{source}={chosen} must be decided before Keras is imported, but Keras "
                f"was already imported in this process with the {loaded} backend (by a "
                "conftest.py or plugin loaded earlier). Set KERAS_BACKEND="
                f"{chosen} in the environment instead, or import Keras only inside tests."
            )
    os.environ["KERAS_BACKEND"] = chosen
    return chosen


_MODULES = {
    "tensorflow": "pytest_cnnperf.backends.tensorflow",
    "jax": "pytest_cnnperf.backends.jax",
    "torch": "pytest_cnnperf.backends.torch",
}
_LOADED: dict[str, Backend] = {}


def current() -> Backend:
    """The implementation of the backend ``KERAS_BACKEND`` names, made once per process.

    Raises:
        BackendError: no such backend, or its framework is not installed.
    """
    return of(requested())


def of(name: str) -> Backend:
    """The implementation of backend ``name`` (one of ``NAMES``), made once per process.

    Making it imports no framework: each concern imports its framework when
    first called.
    """
    if name not in _LOADED:
        module = importlib.import_module(_MODULES[name])
        _LOADED[name] = module.make()
    return _LOADED[name]


def not_installed(name: str) -> str | None:
    """Why backend ``name`` cannot run here (its framework is not found), or None.

    Found is not imported: a framework that fails to import says so when first used.
    """
    import importlib.util

    package = PACKAGES[name]
    if importlib.util.find_spec(package) is not None:
        return None
    return (
        f"The {name} backend was selected (KERAS_BACKEND={name}), but {sys.executable} finds "
        f"no package {package!r}. Install it with pip install 'pytest-cnnperf[{name}]', or "
        "select another backend with --cnnperf-backend."
    )


def missing_framework(name: str, package: str, error: ImportError) -> BackendError:
    """The error for a backend whose framework is not installed."""
    return BackendError(
        f"The {name} backend was selected (KERAS_BACKEND={name}), but {package} cannot be "
        f"imported ({error}). Install it with pip install 'pytest-cnnperf[{name}]', or "
        "select another backend with --cnnperf-backend."
    )


def keras_device_scope(device_name: str) -> AbstractContextManager[Any]:
    """``keras.device(device_name)``: the device scope of JAX and PyTorch."""
    from pytest_cnnperf.backends.imports import import_keras

    scope: AbstractContextManager[Any] = import_keras().device(device_name)
    return scope


def no_strategy(name: str, backend: str) -> str:
    """The error for a multi-device strategy on a backend that has none."""
    return (
        f"strategy={name!r} is TensorFlow's tf.distribute.MirroredStrategy; it does not run on "
        f"the {backend} backend. Run the test on the TensorFlow backend, or without a strategy."
    )
