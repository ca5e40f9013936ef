"""The PyTorch backend: ``torch.cuda`` devices, host-array inputs, TF32 switches.

Keras picks its PyTorch device when it is imported (``KERAS_TORCH_DEVICE``),
so ``pin`` sets that variable before the import and every model is built and
trained inside ``keras.device`` of the placement too. CPU work is
synchronous; on a GPU, synchronization is ``torch.cuda.synchronize`` of the
placement's device. Threads are ``torch.set_num_threads`` (and the inter-op
pool once, before any parallel work).
"""

from __future__ import annotations

import contextlib
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

WHO = "PyTorch"

#: Why a PyTorch run has no per-layer table (``Profiler.layers_unavailable``).
NO_LAYERS = (
    "Per-layer times are measured on the TensorFlow backend only. PyTorch's profiler "
    "records aten operators, and the reading that attributes them to Keras layers is not "
    "built yet; the run's step times and verdicts are unaffected."
)


def import_torch() -> ModuleType:
    """``torch``, or the error that says how to install it."""
    try:
        import torch
    except ImportError as error:
        raise missing_framework("torch", "torch", error) from error
    return torch


class TorchDevices:
    def __init__(self) -> None:
        self._cuda_index: int | None = None

    def gpu_count(self) -> int:
        torch = import_torch()
        return int(torch.cuda.device_count()) if torch.cuda.is_available() else 0

    def missing_gpu_message(self) -> str | None:
        torch = import_torch()
        if self.gpu_count():
            return None
        cuda_visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        cuda_text = "unset" if cuda_visible is None else repr(cuda_visible)
        built = f"with CUDA {torch.version.cuda}" if torch.version.cuda else "without CUDA"
        return (
            "--cnnperf-gpu was given, but PyTorch sees no GPU, and pytest-cnnperf never falls "
            "back to the CPU silently. Looked for: torch.cuda.is_available() returned False; "
            f"CUDA_VISIBLE_DEVICES is {cuda_text}; PyTorch {torch.__version__} was built "
            f"{built}. Install a CUDA build of PyTorch, or drop --cnnperf-gpu to measure on "
            "the CPU."
        )

    def pin(self, *, gpu: bool, requested: int | None, worker_id: str | None) -> Placement:
        if not gpu:
            devices.choose_index(requested if requested is not None else 0, None, 1, "cpu", WHO)
            os.environ["KERAS_TORCH_DEVICE"] = "cpu"
            return Placement("cpu", "cpu", 0, 1)
        count = self.gpu_count()
        index = devices.choose_index(requested, worker_id, count, "gpu", WHO)
        os.environ["KERAS_TORCH_DEVICE"] = f"cuda:{index}"
        import_torch().cuda.set_device(index)
        self._cuda_index = index
        return Placement(f"cuda:{index}", "gpu", index, count)

    def synchronize(self) -> None:
        if self._cuda_index is not None:
            import_torch().cuda.synchronize(self._cuda_index)

    def scope(self, device_name: str) -> AbstractContextManager[Any]:
        return keras_device_scope(device_name)

    def pci_bus_ids(self, device_names: Sequence[str]) -> dict[str, str] | str:
        torch = import_torch()
        found: dict[str, str] = {}
        for name in device_names:
            index = int(name.rsplit(":", 1)[-1]) if ":" in name else 0
            props = torch.cuda.get_device_properties(index)
            bus = getattr(props, "pci_bus_id", None)
            if bus is None:
                return (
                    f"GPU telemetry is off: PyTorch {torch.__version__} gives no PCI bus id "
                    f"for {name}."
                )
            found[name] = (
                f"{int(getattr(props, 'pci_domain_id', 0)):04x}:{int(bus):02x}:"
                f"{int(getattr(props, 'pci_device_id', 0)):02x}.0"
            )
        return found

    def strategy(self, name: str, kind: str, count: int | None) -> Any:
        raise SettingsError(no_strategy(name, "torch"))


class TorchNumerics:
    def share_threads(self, cores: int) -> None:
        torch = import_torch()
        torch.set_num_threads(cores)
        # Allowed once, before any inter-op parallel work: a second call raises.
        with contextlib.suppress(RuntimeError):
            torch.set_num_interop_threads(cores)

    def threads(self) -> int:
        return int(import_torch().get_num_threads())

    def configure(self, *, precision: str, deterministic: bool) -> None:
        torch = import_torch()
        tf32 = precision == "tf32"
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32
        if deterministic:
            # cuBLAS needs a fixed workspace for deterministic results.
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.backends.cudnn.benchmark = False
            torch.use_deterministic_algorithms(True)

    def tf32(self) -> bool:
        return bool(import_torch().backends.cuda.matmul.allow_tf32)

    def jit(self, requested: bool) -> bool:
        # True compiles the step with torch.compile.
        return requested


class TorchSoftware:
    def fingerprint(self, *, gpu: bool) -> dict[str, str]:
        from pytest_cnnperf.environment import package_version

        versions: dict[str, str] = {}
        found = package_version(("torch",))
        if found:
            versions["torch"] = found
        if gpu:
            import sys

            torch = sys.modules.get("torch")
            if torch is not None and torch.version.cuda:
                versions["cuda"] = str(torch.version.cuda)
                cudnn = torch.backends.cudnn.version()
                if cudnn:
                    versions["cudnn"] = str(cudnn)
        return versions


class TorchProfiler:
    def layers_unavailable(self) -> str | None:
        return NO_LAYERS

    def instrument(self, keras_model: Any) -> None:
        return None

    def remove_instrumentation(self, keras_model: Any) -> None:
        return None

    def profile_window(self, keras_model: Any, pipeline: Any, **window: Any) -> Any:
        from pytest_cnnperf.layerprofile import LayerProfile

        return LayerProfile.skipped(NO_LAYERS)


def make() -> Backend:
    return Backend(
        "torch", TorchDevices(), HostInputs(), TorchNumerics(), TorchSoftware(), TorchProfiler()
    )
