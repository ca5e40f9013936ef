"""A stand-in for the ``pynvml`` module: its functions, return types and error codes only.

Nothing below the module boundary is imitated: each function returns what
nvidia-ml-py's returns (structures with the same attribute names, ints in
NVML's units: milliwatts, MHz, bytes, degrees Celsius), and failures raise
``NVMLError`` carrying NVML's numeric code in ``.value``, with nvidia-ml-py's
message for it. Injected with ``monkeypatch.setitem(sys.modules, "pynvml", ...)``.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

NVML_ERROR_UNINITIALIZED = 1
NVML_ERROR_NOT_SUPPORTED = 3
NVML_ERROR_NO_PERMISSION = 4
NVML_ERROR_DRIVER_NOT_LOADED = 9
NVML_ERROR_LIBRARY_NOT_FOUND = 12
NVML_ERROR_FUNCTION_NOT_FOUND = 13
NVML_ERROR_GPU_IS_LOST = 15
NVML_ERROR_LIB_RM_VERSION_MISMATCH = 18
NVML_ERROR_UNKNOWN = 999

#: nvidia-ml-py's NVMLError._errcode_to_string for these codes.
MESSAGES = {
    NVML_ERROR_UNINITIALIZED: "Uninitialized",
    NVML_ERROR_NOT_SUPPORTED: "Not Supported",
    NVML_ERROR_NO_PERMISSION: "Insufficient Permissions",
    NVML_ERROR_DRIVER_NOT_LOADED: "Driver Not Loaded",
    NVML_ERROR_LIBRARY_NOT_FOUND: "NVML Shared Library Not Found",
    NVML_ERROR_FUNCTION_NOT_FOUND: "Function Not Found",
    NVML_ERROR_GPU_IS_LOST: "GPU is lost",
    NVML_ERROR_LIB_RM_VERSION_MISMATCH: "RM has detected an NVML/RM version mismatch.",
    NVML_ERROR_UNKNOWN: "Unknown Error",
}


class NVMLError(Exception):
    """As in nvidia-ml-py: ``NVMLError(code)``, ``.value`` the code, ``str`` its message."""

    def __init__(self, value: int) -> None:
        super().__init__(value)
        self.value = value

    def __str__(self) -> str:
        return MESSAGES.get(self.value, f"Unknown Error {self.value}")


@dataclass
class PciInfo:
    busId: bytes


@dataclass
class Memory:
    total: int
    free: int
    used: int


@dataclass
class Utilization:
    gpu: int
    memory: int


@dataclass
class ProcessInfo:
    pid: int
    usedGpuMemory: int


@dataclass
class FakeGpu:
    """One GPU's state; lists are read one item per sample (the last one repeats)."""

    name: str = "NVIDIA A100-SXM4-40GB"
    bus_id: str = "00000000:07:00.0"
    memory_total: int = 40 * 2**30
    memory_used: list[int] = field(default_factory=lambda: [2 * 2**30])
    utilization: list[int] = field(default_factory=lambda: [95])
    power_milliwatts: list[int] = field(default_factory=lambda: [250_000])
    sm_clock_mhz: list[int] = field(default_factory=lambda: [1410])
    memory_clock_mhz: list[int] = field(default_factory=lambda: [1215])
    temperature_c: list[int] = field(default_factory=lambda: [60])
    reasons: list[int] = field(default_factory=lambda: [0])
    processes: list[int] = field(default_factory=list)
    capability: tuple[int, int] = (8, 0)
    #: NVML function name -> error code it raises (for this GPU).
    fails: dict[str, int] = field(default_factory=dict)
    reads: dict[str, int] = field(default_factory=dict)


def _nth(values: list[int], n: int) -> int:
    return values[min(n, len(values) - 1)]


def make_fake_nvml(
    gpus: list[FakeGpu],
    *,
    init_error: int | None = None,
    driver: str = "550.54.15",
    cuda_driver: int = 12040,
) -> types.ModuleType:
    """A ``pynvml`` module over ``gpus`` (a handle is the GPU's index in NVML's order)."""
    fake = types.ModuleType("pynvml")
    state: dict[str, Any] = {"inits": 0, "initialized": False}

    def on_gpu(name: str, read: Callable[[FakeGpu, int], Any]) -> Callable[..., Any]:
        def call(handle: int, *args: Any) -> Any:
            if not state["initialized"]:
                raise NVMLError(NVML_ERROR_UNINITIALIZED)
            gpu = gpus[handle]
            if name in gpu.fails:
                raise NVMLError(gpu.fails[name])
            key = name if not args else f"{name}:{args[0]}"
            n = gpu.reads.get(key, 0)
            gpu.reads[key] = n + 1
            return read(gpu, n, *args)

        return call

    def init() -> None:
        state["inits"] += 1
        if init_error is not None:
            raise NVMLError(init_error)
        state["initialized"] = True

    def shutdown() -> None:
        state["initialized"] = False

    def clock(gpu: FakeGpu, n: int, kind: int) -> int:
        return _nth(gpu.sm_clock_mhz if kind == 1 else gpu.memory_clock_mhz, n)

    def temperature(gpu: FakeGpu, n: int, sensor: int) -> int:
        assert sensor == 0, "pytest-cnnperf reads the GPU sensor (NVML_TEMPERATURE_GPU)"
        return _nth(gpu.temperature_c, n)

    def processes(gpu: FakeGpu, n: int) -> list[ProcessInfo]:
        return [ProcessInfo(pid, 2**28) for pid in gpu.processes]

    constants = {
        "NVMLError": NVMLError,
        "NVML_CLOCK_SM": 1,
        "NVML_CLOCK_MEM": 2,
        "NVML_TEMPERATURE_GPU": 0,
        **{f"NVML_ERROR_{k}": v for k, v in _CODES.items()},
    }
    functions = {
        "nvmlInit": init,
        "nvmlShutdown": shutdown,
        "nvmlSystemGetDriverVersion": lambda: driver,
        "nvmlSystemGetCudaDriverVersion": lambda: cuda_driver,
        "nvmlDeviceGetCount": lambda: len(gpus),
        "nvmlDeviceGetHandleByIndex": lambda index: index,
        "nvmlDeviceGetName": on_gpu("nvmlDeviceGetName", lambda g, n: g.name),
        "nvmlDeviceGetPciInfo": on_gpu(
            "nvmlDeviceGetPciInfo", lambda g, n: PciInfo(g.bus_id.encode())
        ),
        "nvmlDeviceGetMemoryInfo": on_gpu(
            "nvmlDeviceGetMemoryInfo",
            lambda g, n: Memory(
                g.memory_total, g.memory_total - _nth(g.memory_used, n), _nth(g.memory_used, n)
            ),
        ),
        "nvmlDeviceGetUtilizationRates": on_gpu(
            "nvmlDeviceGetUtilizationRates", lambda g, n: Utilization(_nth(g.utilization, n), 30)
        ),
        "nvmlDeviceGetPowerUsage": on_gpu(
            "nvmlDeviceGetPowerUsage", lambda g, n: _nth(g.power_milliwatts, n)
        ),
        "nvmlDeviceGetClockInfo": on_gpu("nvmlDeviceGetClockInfo", clock),
        "nvmlDeviceGetTemperature": on_gpu("nvmlDeviceGetTemperature", temperature),
        "nvmlDeviceGetCurrentClocksEventReasons": on_gpu(
            "nvmlDeviceGetCurrentClocksEventReasons", lambda g, n: _nth(g.reasons, n)
        ),
        "nvmlDeviceGetComputeRunningProcesses": on_gpu(
            "nvmlDeviceGetComputeRunningProcesses", processes
        ),
        "nvmlDeviceGetCudaComputeCapability": on_gpu(
            "nvmlDeviceGetCudaComputeCapability", lambda g, n: g.capability
        ),
    }
    for name, value in {**constants, **functions}.items():
        setattr(fake, name, value)
    fake.state = state  # type: ignore[attr-defined]
    return fake


_CODES = {
    "UNINITIALIZED": NVML_ERROR_UNINITIALIZED,
    "NOT_SUPPORTED": NVML_ERROR_NOT_SUPPORTED,
    "NO_PERMISSION": NVML_ERROR_NO_PERMISSION,
    "DRIVER_NOT_LOADED": NVML_ERROR_DRIVER_NOT_LOADED,
    "LIBRARY_NOT_FOUND": NVML_ERROR_LIBRARY_NOT_FOUND,
    "FUNCTION_NOT_FOUND": NVML_ERROR_FUNCTION_NOT_FOUND,
    "GPU_IS_LOST": NVML_ERROR_GPU_IS_LOST,
    "LIB_RM_VERSION_MISMATCH": NVML_ERROR_LIB_RM_VERSION_MISMATCH,
    "UNKNOWN": NVML_ERROR_UNKNOWN,
}
