"""The TensorFlow backend: ``tf.config`` devices, ``tf.data`` inputs, TF32 switches.

Device visibility, memory growth and thread pools can be set only before
TensorFlow's runtime starts; ``runtime`` calls ``pin`` and ``share_threads``
first thing in a process. Synchronization is
``tf.test.experimental.sync_devices``. Per-layer times come from
TensorFlow's profiler (``backends.tensorflow_layers``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from types import ModuleType
from typing import Any

from pytest_cnnperf import devices, telemetry
from pytest_cnnperf.backends import Backend
from pytest_cnnperf.backends.imports import import_tensorflow
from pytest_cnnperf.devices import Placement
from pytest_cnnperf.markers import SettingsError

WHO = "TensorFlow"

#: One ``tf.distribute.MirroredStrategy`` per device set, kept for the process.
_STRATEGIES: dict[tuple[str, tuple[str, ...]], Any] = {}


def missing_gpu_message(tf: ModuleType) -> str | None:
    """Explain why no GPU is usable, or return None when one is visible."""
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        return None
    cuda_visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    cuda_text = "unset" if cuda_visible is None else repr(cuda_visible)
    built = "with" if tf.test.is_built_with_cuda() else "without"
    return (
        "--cnnperf-gpu was given, but TensorFlow sees no GPU, and pytest-cnnperf never "
        "falls back to the CPU silently. Looked for: "
        "tf.config.list_physical_devices('GPU') returned []; "
        f"CUDA_VISIBLE_DEVICES is {cuda_text}; "
        f"TensorFlow {tf.__version__} was built {built} CUDA. "
        "Install the CUDA build with pip install 'pytest-cnnperf[gpu]', check that "
        "nvidia-smi lists the GPU and that CUDA_VISIBLE_DEVICES does not hide it, "
        "or drop --cnnperf-gpu to measure on the CPU."
    )


def pin(tf: ModuleType, *, gpu: bool, requested: int | None, worker_id: str | None) -> Placement:
    """Hide or select devices before TensorFlow's runtime starts; return the placement.

    Must run before the first TensorFlow operation of the process.
    """
    if not gpu:
        tf.config.set_visible_devices([], "GPU")
        cpus = tf.config.list_logical_devices("CPU")
        # CPU workers share the host: 'auto' means logical CPU 0 for all of them.
        index = devices.choose_index(
            requested if requested is not None else 0, None, len(cpus), "cpu"
        )
        return Placement(cpus[index].name, "cpu", index, len(cpus))
    gpus = tf.config.list_physical_devices("GPU")
    index = devices.choose_index(requested, worker_id, len(gpus), "gpu")
    # One process alone (no xdist, no --cnnperf-device) keeps every GPU, for a
    # mirrored strategy; it trains on the first unless a test says otherwise.
    alone = worker_id is None and requested is None
    chosen = gpus if alone else [gpus[index]]
    tf.config.set_visible_devices(chosen, "GPU")
    for gpu in chosen:
        # Grow memory on demand so that other processes on the machine keep theirs.
        tf.config.experimental.set_memory_growth(gpu, True)
    logical = tf.config.list_logical_devices("GPU")
    return Placement(logical[0].name, "gpu", index, len(gpus))


def synchronize(tf: ModuleType) -> None:
    """Block until every device has finished its queued work."""
    tf.test.experimental.sync_devices()


# --------------------------------------------------------------------------- PCI bus ids


_TF_PCI = re.compile(r"pci bus id:\s*([0-9a-fA-F:.]+)")


def tensorflow_pci_bus_ids(descriptions: Mapping[str, str]) -> dict[str, str]:
    """Device name -> PCI bus id, from TensorFlow's physical device descriptions.

    ``descriptions`` maps a device name to its ``physical_device_desc``, such
    as ``device: 0, name: NVIDIA A100-SXM4-40GB, pci bus id: 0000:07:00.0,
    compute capability: 8.0``; devices without a bus id are left out.
    """
    found = {}
    for name, text in descriptions.items():
        match = _TF_PCI.search(text)
        if match is not None:
            found[name] = telemetry.normalize_pci_bus_id(match.group(1))
    return found


def device_descriptions(tf: ModuleType) -> dict[str, str]:
    """The visible GPUs' ``physical_device_desc``, by device name (``/device:GPU:0``).

    Must run after the devices were pinned: it creates the visible devices.
    """
    from tensorflow.python.client import device_lib

    return {
        device.name: device.physical_device_desc
        for device in device_lib.list_local_devices()
        if device.device_type == "GPU"
    }


def tensorflow_bus_ids(tf: ModuleType, device_names: Sequence[str]) -> dict[str, str] | str:
    """TensorFlow GPU name (``/device:GPU:0``) -> PCI bus id, or why there is none."""
    try:
        descriptions = _DESCRIPTIONS.get("gpus")
        if descriptions is None:
            descriptions = _DESCRIPTIONS["gpus"] = device_descriptions(tf)
    except Exception as exc:
        return f"GPU telemetry is off: TensorFlow did not describe its GPUs ({exc})."
    bus_ids = tensorflow_pci_bus_ids(descriptions)
    known = {_canonical(name): bus for name, bus in bus_ids.items()}
    missing = [name for name in device_names if _canonical(name) not in known]
    if missing:
        return (
            f"GPU telemetry is off: TensorFlow gave no PCI bus id for "
            f"{', '.join(_canonical(name) for name in missing)} "
            f"(its GPUs: {descriptions or 'none'})."
        )
    return {name: known[_canonical(name)] for name in device_names}


#: The visible GPUs' descriptions, asked once per process (devices are fixed then).
_DESCRIPTIONS: dict[str, dict[str, str]] = {}


def _canonical(name: str) -> str:
    """``/job:localhost/replica:0/task:0/device:GPU:0`` and ``/device:GPU:0`` -> ``GPU:0``."""
    return name.rsplit("device:", 1)[-1].upper()


class TensorFlowDevices:
    def gpu_count(self) -> int:
        return len(import_tensorflow().config.list_physical_devices("GPU"))

    def missing_gpu_message(self) -> str | None:
        return missing_gpu_message(import_tensorflow())

    def pin(self, *, gpu: bool, requested: int | None, worker_id: str | None) -> Placement:
        return pin(import_tensorflow(), gpu=gpu, requested=requested, worker_id=worker_id)

    def synchronize(self) -> None:
        synchronize(import_tensorflow())

    def scope(self, device_name: str) -> AbstractContextManager[Any]:
        scope: AbstractContextManager[Any] = import_tensorflow().device(device_name)
        return scope

    def pci_bus_ids(self, device_names: Sequence[str]) -> dict[str, str] | str:
        return tensorflow_bus_ids(import_tensorflow(), device_names)

    def strategy(self, name: str, kind: str, count: int | None) -> Any:
        tf = import_tensorflow()
        visible = [device.name for device in tf.config.list_logical_devices(kind)]
        wanted = len(visible) if count is None else count
        if wanted > len(visible):
            raise SettingsError(
                f"Expected devices to be at most {len(visible)}, the {kind} devices this "
                f"process sees ({', '.join(visible)}; under pytest -n each worker sees one "
                f"GPU). Received: devices={wanted}"
            )
        key = (name, tuple(visible[:wanted]))
        if key not in _STRATEGIES:
            # One strategy per device set and process: creating one sets up its
            # cross-device communication, which is not free.
            _STRATEGIES[key] = tf.distribute.MirroredStrategy(devices=list(key[1]))
        return _STRATEGIES[key]


class TensorFlowInputs:
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
        from pytest_cnnperf.backends import tfdata

        train = tfdata.training_pipeline(
            x, y, batch_size=batch_size, seed=seed, augmentation_layers=augmentation_layers
        )
        return train if steps is None else train.take(steps)

    def evaluation(self, x: Any, y: Any, *, batch_size: int) -> Any:
        from pytest_cnnperf.backends import tfdata

        return tfdata.evaluation_pipeline(x, y, batch_size=batch_size)

    def batches(self, pipeline: Any) -> int:
        return int(pipeline.cardinality().numpy())

    def repeat(self, pipeline: Any) -> Any:
        return pipeline.repeat()


class TensorFlowNumerics:
    def share_threads(self, cores: int) -> None:
        tf = import_tensorflow()
        tf.config.threading.set_intra_op_parallelism_threads(cores)
        tf.config.threading.set_inter_op_parallelism_threads(cores)

    def threads(self) -> int:
        return int(import_tensorflow().config.threading.get_intra_op_parallelism_threads())

    def configure(self, *, precision: str, deterministic: bool) -> None:
        tf = import_tensorflow()
        # TensorFlow multiplies float32 matrices in TF32 by default on Ampere and
        # newer: float32 must say no, or it is not float32.
        tf.config.experimental.enable_tensor_float_32_execution(precision == "tf32")
        if deterministic:
            tf.config.experimental.enable_op_determinism()

    def tf32(self) -> bool:
        tf = import_tensorflow()
        return bool(tf.config.experimental.tensor_float_32_execution_enabled())

    def jit(self, requested: bool) -> bool:
        # Explicit, never Keras' "auto" (XLA on any machine with a GPU).
        return requested


class TensorFlowSoftware:
    def fingerprint(self, *, gpu: bool) -> dict[str, str]:
        import sys

        from pytest_cnnperf.environment import package_version

        versions: dict[str, str] = {}
        found = package_version(("tensorflow", "tensorflow-cpu", "tf-nightly"))
        if found:
            versions["tensorflow"] = found
        tf = sys.modules.get("tensorflow")
        if gpu and tf is not None:
            build = dict(tf.sysconfig.get_build_info())
            for key in ("cuda_version", "cudnn_version"):
                if build.get(key):
                    versions[key.removesuffix("_version")] = str(build[key])
        return versions


class TensorFlowProfiler:
    """TensorFlow's profiler; its XSpace attributed by ``tensorflow_layers`` and ``profiling``."""

    def layers_unavailable(self) -> str | None:
        return None

    def instrument(self, keras_model: Any) -> None:
        from pytest_cnnperf.backends import tensorflow_layers

        tensorflow_layers.instrument(keras_model)

    def remove_instrumentation(self, keras_model: Any) -> None:
        from pytest_cnnperf import layers

        layers.remove_instrumentation(keras_model)

    def profile_window(self, keras_model: Any, pipeline: Any, **window: Any) -> Any:
        from pytest_cnnperf.backends import tensorflow_layers

        return tensorflow_layers.profile_window(keras_model, pipeline, **window)


def make() -> Backend:
    return Backend(
        "tensorflow",
        TensorFlowDevices(),
        TensorFlowInputs(),
        TensorFlowNumerics(),
        TensorFlowSoftware(),
        TensorFlowProfiler(),
    )
