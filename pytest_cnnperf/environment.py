"""The environment block: software versions and the hardware description.

Versions come from package metadata, so the controller of an xdist run can
describe the environment without importing TensorFlow. GPUs are described
through NVML (``pynvml``, from ``nvidia-ml-py``), imported only when asked.
"""

from __future__ import annotations

import contextlib
import os
import platform
import sys
from dataclasses import dataclass
from importlib import metadata

_PACKAGES = {
    "tensorflow": ("tensorflow", "tensorflow-cpu", "tf-nightly"),
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
    """One GPU as NVML reports it."""

    index: int
    name: str
    memory_total_bytes: int


@dataclass(frozen=True)
class NvmlReport:
    """What NVML says about the machine's GPUs and driver."""

    gpus: tuple[GpuInfo, ...]
    driver_version: str | None
    cuda_driver_version: str | None
    error: str | None = None


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def nvml_report() -> NvmlReport:
    """Ask NVML for the GPUs and driver; never raises, reports the error instead."""
    try:
        import pynvml
    except ImportError as exc:
        return NvmlReport((), None, None, error=f"pynvml is not installed ({exc})")
    try:
        pynvml.nvmlInit()
    except Exception as exc:  # pynvml raises NVMLError subclasses per failure
        return NvmlReport((), None, None, error=f"NVML could not start: {exc}")
    try:
        driver = _text(pynvml.nvmlSystemGetDriverVersion())
        cuda_raw = int(pynvml.nvmlSystemGetCudaDriverVersion())
        cuda = f"{cuda_raw // 1000}.{(cuda_raw % 1000) // 10}"
        gpus = []
        for index in range(int(pynvml.nvmlDeviceGetCount())):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
            gpus.append(GpuInfo(index, _text(pynvml.nvmlDeviceGetName(handle)), int(memory.total)))
        return NvmlReport(tuple(gpus), driver, cuda)
    except Exception as exc:
        return NvmlReport((), None, None, error=f"NVML query failed: {exc}")
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


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


@dataclass(frozen=True)
class Hardware:
    """The hardware the figures belong to: what a baseline file is keyed by."""

    device_kind: str
    device_model: str
    device_count: int
    precision: str


def describe_hardware(*, gpu: bool, precision: str, nvml: NvmlReport | None = None) -> Hardware:
    """Describe the CPU, or the GPUs NVML lists, for the baseline key."""
    if not gpu:
        return Hardware("cpu", cpu_model(), cpu_count(), precision)
    report = nvml if nvml is not None else nvml_report()
    names = sorted({g.name for g in report.gpus})
    model = " + ".join(names) if names else "unknown GPU"
    return Hardware("gpu", model, len(report.gpus), precision)


def software_fingerprint(*, gpu: bool, nvml: NvmlReport | None = None) -> dict[str, str]:
    """Versions of everything an upgrade can change: recorded, not part of the key."""
    versions: dict[str, str] = {
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
        "keras_backend": os.environ.get("KERAS_BACKEND", "tensorflow"),
    }
    for key, candidates in _PACKAGES.items():
        found = package_version(candidates)
        if found:
            versions[key] = found
    if gpu:
        report = nvml if nvml is not None else nvml_report()
        if report.driver_version:
            versions["driver"] = report.driver_version
        if report.cuda_driver_version:
            versions["cuda_driver"] = report.cuda_driver_version
        tf = sys.modules.get("tensorflow")
        if tf is not None:
            build = dict(tf.sysconfig.get_build_info())
            for key in ("cuda_version", "cudnn_version"):
                if build.get(key):
                    versions[key.removesuffix("_version")] = str(build[key])
    return versions
