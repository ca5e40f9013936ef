"""The JAX backend: ``jax.devices``, host-array inputs, XLA flags.

JAX reads its platform list, memory preallocation and XLA flags when its
first computation creates the backends, so ``pin`` and ``configure`` set them
before that: a CPU run sets ``jax_platforms`` to ``cpu`` (GPUs stay closed),
a GPU run turns preallocation off so that other processes keep their memory.
Synchronization blocks on every live array (``jax.block_until_ready``), so a
window ends when the work whose results are still held has finished. JAX
sizes its CPU thread pool from the cores the process may run on, which
``runtime.share_cores`` has pinned under xdist.

Keras compiles the JAX train step with ``jax.jit`` always: without it Keras
runs the step op by op, which is not how JAX is used.

Per-layer times come from JAX's profiler: ``backends.jax_layers`` runs the window and
``jaxprofiling`` charges the XLA ops to Keras layers through their HLO
metadata (CPU only; docs/layers.md, "On JAX").
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from contextlib import AbstractContextManager
from types import ModuleType
from typing import Any

from pytest_cnnperf import devices
from pytest_cnnperf.backends import Backend, keras_device_scope, missing_framework, no_strategy
from pytest_cnnperf.backends.host_inputs import HostInputs
from pytest_cnnperf.devices import Placement
from pytest_cnnperf.markers import SettingsError

WHO = "JAX"


def import_jax() -> ModuleType:
    """``jax``, or the error that says how to install it."""
    try:
        import jax
    except ImportError as error:
        raise missing_framework("jax", "jax", error) from error
    return jax


def _add_xla_flag(flag: str) -> None:
    flags = os.environ.get("XLA_FLAGS", "")
    if flag.split("=")[0] not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} {flag}".strip()


class JaxDevices:
    def __init__(self) -> None:
        self._placed: Any = None

    def gpu_count(self) -> int:
        jax = import_jax()
        try:
            return len(jax.devices("gpu"))
        except RuntimeError:  # no GPU platform
            return 0

    def missing_gpu_message(self) -> str | None:
        jax = import_jax()
        if self.gpu_count():
            return None
        cuda_visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        cuda_text = "unset" if cuda_visible is None else repr(cuda_visible)
        return (
            "--cnnperf-gpu was given, but JAX sees no GPU, and pytest-cnnperf never falls "
            f"back to the CPU silently. Looked for: jax.devices('gpu') found none "
            f"(JAX {jax.__version__}, platforms {sorted({d.platform for d in jax.devices()})}); "
            f"CUDA_VISIBLE_DEVICES is {cuda_text}. Install JAX's CUDA build with "
            "pip install 'jax[cuda12]', or drop --cnnperf-gpu to measure on the CPU."
        )

    def pin(self, *, gpu: bool, requested: int | None, worker_id: str | None) -> Placement:
        jax = import_jax()
        if not gpu:
            # Before the first computation: no GPU context is ever opened.
            jax.config.update("jax_platforms", "cpu")
            cpus = jax.devices("cpu")
            index = devices.choose_index(
                requested if requested is not None else 0, None, len(cpus), "cpu", WHO
            )
            self._placed = cpus[index]
            return Placement(f"cpu:{cpus[index].id}", "cpu", index, len(cpus))
        os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
        gpus = jax.devices("gpu")
        index = devices.choose_index(requested, worker_id, len(gpus), "gpu", WHO)
        self._placed = gpus[index]
        return Placement(f"gpu:{gpus[index].id}", "gpu", index, len(gpus))

    def synchronize(self) -> None:
        jax = import_jax()
        jax.block_until_ready(jax.live_arrays())

    def scope(self, device_name: str) -> AbstractContextManager[Any]:
        return keras_device_scope(device_name)

    def pci_bus_ids(self, device_names: Sequence[str]) -> dict[str, str] | str:
        return (
            "GPU telemetry is off on the JAX backend: JAX gives no PCI bus id to match its "
            "devices to NVML's GPUs."
        )

    def strategy(self, name: str, kind: str, count: int | None) -> Any:
        raise SettingsError(no_strategy(name, "JAX"))


class JaxNumerics:
    def share_threads(self, cores: int) -> None:
        # XLA's CPU pool follows the affinity ``share_cores`` set; nothing to add.
        return None

    def threads(self) -> int:
        return 0

    def configure(self, *, precision: str, deterministic: bool) -> None:
        jax = import_jax()
        # float32 means float32: JAX's default lets GPUs multiply in TF32.
        jax.config.update(
            "jax_default_matmul_precision", "tensorfloat32" if precision == "tf32" else "highest"
        )
        if deterministic:
            _add_xla_flag("--xla_gpu_deterministic_ops=true")

    def tf32(self) -> bool:
        return str(import_jax().config.jax_default_matmul_precision) == "tensorfloat32"

    def jit(self, requested: bool) -> bool:
        return True


class JaxSoftware:
    def fingerprint(self, *, gpu: bool) -> dict[str, str]:
        from pytest_cnnperf.environment import package_version

        versions: dict[str, str] = {}
        for key, names in (
            ("jax", ("jax",)),
            ("jaxlib", ("jaxlib",)),
            ("jax_cuda_plugin", ("jax-cuda12-plugin", "jax-cuda13-plugin")),
        ):
            found = package_version(names)
            if found:
                versions[key] = found
        if gpu:
            import sys

            jax = sys.modules.get("jax")
            if jax is not None:
                try:
                    gpus = jax.devices("gpu")
                except RuntimeError:
                    gpus = []
                if gpus:
                    versions["xla_gpu_platform"] = str(gpus[0].client.platform_version)
        return versions


class JaxProfiler:
    """JAX's profiler and its XSpace, attributed by ``backends.jax_layers`` and ``jaxprofiling``."""

    def layers_unavailable(self) -> str | None:
        return None

    def instrument(self, keras_model: Any) -> None:
        from pytest_cnnperf.backends import jax_layers

        jax_layers.instrument(keras_model)

    def remove_instrumentation(self, keras_model: Any) -> None:
        from pytest_cnnperf import layers

        layers.remove_instrumentation(keras_model)

    def profile_window(self, keras_model: Any, pipeline: Any, **window: Any) -> Any:
        from pytest_cnnperf.backends import jax_layers

        return jax_layers.profile_window(keras_model, pipeline, **window)


def make() -> Backend:
    return Backend("jax", JaxDevices(), HostInputs(), JaxNumerics(), JaxSoftware(), JaxProfiler())
