"""The environment of a session: software versions and the hardware key.

``take_snapshot`` describes the machine once per session, in the process
that needs it (the one that writes files, or an xdist worker that judges
against a baseline); the same ``EnvironmentSnapshot`` then serves the
baseline key, the comparison's software changes, the results JSON and the
summary. Versions come from package metadata, so the controller of an xdist
run can describe the environment without importing TensorFlow. GPUs are
described through NVML (``pynvml``, from ``nvidia-ml-py``), opened once per
snapshot and only for a GPU run.
"""

from __future__ import annotations

import contextlib
import platform
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from importlib import metadata
from typing import Any

from pytest_cnnperf import backends, cores
from pytest_cnnperf.baselines.model import HardwareKey

_PACKAGES = {
    "keras": ("keras",),
    "numpy": ("numpy",),
}


def package_version(candidates: tuple[str, ...]) -> str | None:
    for name in candidates:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


@dataclass(frozen=True)
class GpuInfo:
    """One GPU as NVML reports it.

    ``compute_capability`` is ``"8.0"`` for an A100; None when the driver
    does not say. ``pci_bus_id`` is normalized (``0000:07:00.0``): the key
    that matches it to TensorFlow's device (see ``telemetry``).
    """

    index: int
    name: str
    memory_total_bytes: int
    compute_capability: str | None = None
    pci_bus_id: str | None = None


@dataclass(frozen=True)
class NvmlReport:
    """What NVML says about the machine's GPUs and driver."""

    gpus: tuple[GpuInfo, ...]
    driver_version: str | None
    cuda_driver_version: str | None
    error: str | None = None


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _optional(read: Callable[[], Any]) -> Any:
    """A figure some drivers do not report (NVML_ERROR_NOT_SUPPORTED): None then."""
    from pytest_cnnperf.telemetry import NVML_ERROR_NOT_SUPPORTED

    try:
        return read()
    except Exception as exc:
        if getattr(exc, "value", None) == NVML_ERROR_NOT_SUPPORTED:
            return None
        raise


def nvml_report() -> NvmlReport:
    """Ask NVML for the GPUs and driver; never raises, reports the error instead.

    The error is ``telemetry.nvml_problem``'s sentence for its cause (no
    pynvml, no library, no driver, no permission, ...), the same one the
    telemetry of each run gives, so that the summary says it once.
    """
    from pytest_cnnperf.telemetry import normalize_pci_bus_id, nvml_problem

    try:
        import pynvml
    except ImportError as exc:
        return NvmlReport((), None, None, error=nvml_problem(exc))
    try:
        pynvml.nvmlInit()
    except Exception as exc:  # pynvml raises NVMLError subclasses per failure
        return NvmlReport((), None, None, error=nvml_problem(exc))
    try:
        driver = _text(pynvml.nvmlSystemGetDriverVersion())
        cuda_raw = int(pynvml.nvmlSystemGetCudaDriverVersion())
        cuda = f"{cuda_raw // 1000}.{(cuda_raw % 1000) // 10}"
        gpus = []
        for index in range(int(pynvml.nvmlDeviceGetCount())):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
            capability = _optional(partial(pynvml.nvmlDeviceGetCudaComputeCapability, handle))
            pci = _optional(partial(pynvml.nvmlDeviceGetPciInfo, handle))
            gpus.append(
                GpuInfo(
                    index,
                    _text(pynvml.nvmlDeviceGetName(handle)),
                    int(memory.total),
                    None if capability is None else f"{capability[0]}.{capability[1]}",
                    None if pci is None else normalize_pci_bus_id(pci.busId),
                )
            )
        return NvmlReport(tuple(gpus), driver, cuda)
    except Exception as exc:
        return NvmlReport((), None, None, error=nvml_problem(exc))
    finally:
        with contextlib.suppress(Exception):
            pynvml.nvmlShutdown()


def cpu_model() -> str:
    """The CPU's marketing name from /proc/cpuinfo, else what platform knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.lower().startswith("model name"):
                    return " ".join(line.split(":", 1)[1].split())
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


#: The cores this process could run on before ``runtime.share_cores`` pinned
#: it to its share under xdist (empty until then). The baseline key names the
#: machine's cores, not a worker's share: the share is the arrangement's.
_CORES_BEFORE_PINNING: list[int] = []


def note_cores_before_pinning(count: int) -> None:
    """Record the process's core count before it is pinned to a share of them."""
    _CORES_BEFORE_PINNING[:] = [count]


def cpu_count() -> int:
    """The cores the session may use (before any pinning of an xdist worker)."""
    if _CORES_BEFORE_PINNING:
        return _CORES_BEFORE_PINNING[0]
    return cores.usable()


def describe_hardware(
    *, gpu: bool, precision: str, nvml: NvmlReport | None = None, backend: str | None = None
) -> HardwareKey:
    """The baseline key: the CPU, or the GPUs NVML lists, the precision policy and the
    Keras backend (``KERAS_BACKEND``'s when not given)."""
    backend = backend or backends.requested()
    if not gpu:
        return HardwareKey("cpu", cpu_model(), cpu_count(), precision, backend)
    report = nvml if nvml is not None else nvml_report()
    names = sorted({g.name for g in report.gpus})
    model = " + ".join(names) if names else "unknown GPU"
    # A GPU run with no GPU NVML could list still names one device: the count
    # is a key field and must be at least 1.
    return HardwareKey("gpu", model, max(len(report.gpus), 1), precision, backend)


def software_fingerprint(*, gpu: bool, nvml: NvmlReport | None = None) -> dict[str, str]:
    """Versions of everything an upgrade can change: recorded, not part of the key."""
    backend = backends.requested()
    versions: dict[str, str] = {
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
        "keras_backend": backend,
    }
    for key, candidates in _PACKAGES.items():
        found = package_version(candidates)
        if found:
            versions[key] = found
    # The backend's packages (and, on a GPU run, the CUDA and cuDNN it was built with).
    versions.update(_backend_software(backend, gpu))
    if gpu:
        report = nvml if nvml is not None else nvml_report()
        if report.driver_version:
            versions["driver"] = report.driver_version
        if report.cuda_driver_version:
            versions["cuda_driver"] = report.cuda_driver_version
    return versions


def _backend_software(backend: str, gpu: bool) -> dict[str, str]:
    return backends.of(backend).software.fingerprint(gpu=gpu)


@dataclass(frozen=True)
class EnvironmentSnapshot:
    """The machine and software of one session, described once.

    Args:
        hardware: the baseline key (device kind, model, count, precision).
        software: the software fingerprint (see ``software_fingerprint``).
        gpus: what NVML listed (empty on a CPU run).
        nvml_error: why NVML could not be asked, on a GPU run; None otherwise.
    """

    hardware: HardwareKey
    software: Mapping[str, str]
    gpus: tuple[GpuInfo, ...] = ()
    nvml_error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The results JSON's ``environment`` block, less the run's own settings."""
        return {
            "software": dict(self.software),
            "device": {
                "kind": self.hardware.device_kind,
                "model": self.hardware.device_model,
                "count": self.hardware.device_count,
                "precision": self.hardware.precision,
                "backend": self.hardware.backend,
            },
            "gpus": [
                {
                    "index": g.index,
                    "name": g.name,
                    "memory_total_bytes": g.memory_total_bytes,
                    "compute_capability": g.compute_capability,
                    "pci_bus_id": g.pci_bus_id,
                }
                for g in self.gpus
            ],
            "nvml_error": self.nvml_error,
        }


def take_snapshot(*, gpu: bool, precision: str) -> EnvironmentSnapshot:
    """Describe this machine: NVML is opened once, and only for a GPU run."""
    report = nvml_report() if gpu else None
    return EnvironmentSnapshot(
        hardware=describe_hardware(gpu=gpu, precision=precision, nvml=report),
        software=software_fingerprint(gpu=gpu, nvml=report),
        gpus=report.gpus if report is not None else (),
        nvml_error=report.error if report is not None else None,
    )
