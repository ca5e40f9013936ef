"""GPU telemetry from NVML, sampled on a background thread during the timed windows.

A ``Sampler`` holds one NVML handle per GPU a run trains on, matched to
TensorFlow's devices by PCI bus id (``CUDA_VISIBLE_DEVICES`` renumbers
TensorFlow's devices and not NVML's, so indices do not match). Its thread is
started before the windowed ``fit`` and stopped after it returns; inside
``fit`` the epoch timer (``timing.EpochRecorder``) resumes it just before a
window's first clock read and pauses it just after the last, so that
sampling never happens between windows (where the reference kernel runs on
the CPU and the GPU idles) and neither starting, stopping nor summarizing
ever runs inside a timed window. The sampling itself runs on its own thread.

Each GPU's samples are summarized (mean and peak) as a ``GpuTelemetry``; a
run's ``RunTelemetry`` rides on its ``TrainResult``, the metric registry
reads the summaries (``metrics.GPU_*``), and ``RunTelemetry.disturbances``
says whether clocks throttled, another process used the GPU or the GPU was
starved for input: a timing judged on such a measurement is ``unstable``,
never ``regressed`` (``baselines.compare.discount_disturbed``).

NVML missing or failing is never a crash: ``nvml_problem`` turns each cause
(no pynvml, no library, no driver, no permission, ...) into one message, which
the run carries in ``RunTelemetry.error`` and the summary prints once.

``pynvml`` is imported only by ``load_nvml``, when a GPU run first trains.
"""

from __future__ import annotations

import math
import os
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

#: NVML's error codes (nvml.h; the same numbers as ``pynvml.NVML_ERROR_*``).
NVML_ERROR_UNINITIALIZED = 1
NVML_ERROR_NOT_SUPPORTED = 3
NVML_ERROR_NO_PERMISSION = 4
NVML_ERROR_DRIVER_NOT_LOADED = 9
NVML_ERROR_LIBRARY_NOT_FOUND = 12
NVML_ERROR_FUNCTION_NOT_FOUND = 13
NVML_ERROR_GPU_IS_LOST = 15
NVML_ERROR_LIB_RM_VERSION_MISMATCH = 18
NVML_ERROR_UNKNOWN = 999

#: Clocks-event ("throttle") reasons that mean the clocks were held down by
#: power or heat. Idle (0x1), application clock settings (0x2), sync boost
#: (0x10) and display clock settings (0x100) are not: they are set on a quiet
#: or deliberately configured GPU.
THROTTLE_REASONS: Mapping[int, str] = {
    0x4: "power cap (software)",
    0x8: "hardware slowdown",
    0x20: "thermal slowdown (software)",
    0x40: "thermal slowdown (hardware)",
    0x80: "power brake (hardware)",
}
#: A reason active in at least this share of the samples throttled the measurement.
THROTTLED_SHARE = 0.10
#: Mean utilization below this (percent of time a kernel ran) means the GPU
#: waited for its input during the windows.
STARVED_UTILIZATION_PERCENT = 50.0
#: Seconds between samples: NVML's utilization is itself averaged over about
#: 1/6 s to 1 s, so sampling faster adds no information, only CPU load.
DEFAULT_INTERVAL_SECONDS = 0.05

_PCI = re.compile(
    r"^\s*(?:(?P<domain>[0-9a-fA-F]{1,8}):)?(?P<bus>[0-9a-fA-F]{1,2}):"
    r"(?P<device>[0-9a-fA-F]{1,2})\.(?P<function>[0-7])\s*$"
)


class NvmlUnavailable(Exception):
    """NVML cannot be used; the message is ``nvml_problem``'s, said once."""


def nvml_problem(error: BaseException) -> str:
    """One sentence for why GPU telemetry is off, per cause of ``error``."""
    if isinstance(error, ImportError):
        return (
            "GPU telemetry is off: pynvml is not installed; "
            "pip install 'pytest-cnnperf[gpu]' installs it (nvidia-ml-py)."
        )
    code = getattr(error, "value", None)
    said = f"NVML error {code}, {error}" if code is not None else str(error)
    if code == NVML_ERROR_LIBRARY_NOT_FOUND:
        return (
            f"GPU telemetry is off: NVML's library libnvidia-ml.so.1 was not found ({said}); "
            "install the NVIDIA driver, or run the container with the NVIDIA container "
            "toolkit (docker run --gpus all)."
        )
    if code == NVML_ERROR_DRIVER_NOT_LOADED:
        return (
            f"GPU telemetry is off: the NVIDIA driver is not loaded ({said}); "
            "check that nvidia-smi lists the GPUs."
        )
    if code == NVML_ERROR_NO_PERMISSION:
        return (
            f"GPU telemetry is off: this user may not query the GPUs ({said}); "
            "ask for access to /dev/nvidia* or run where nvidia-smi works for this user."
        )
    if code == NVML_ERROR_LIB_RM_VERSION_MISMATCH:
        return (
            f"GPU telemetry is off: the NVML library and the loaded driver are different "
            f"versions ({said}); reboot after a driver upgrade."
        )
    if code == NVML_ERROR_GPU_IS_LOST:
        return (
            f"GPU telemetry is off: a GPU stopped answering ({said}); check dmesg for Xid errors."
        )
    if code == NVML_ERROR_FUNCTION_NOT_FOUND:
        return (
            f"GPU telemetry is off: the driver is older than the NVML functions pytest-cnnperf "
            f"calls ({said}); upgrade the NVIDIA driver."
        )
    return f"GPU telemetry is off: NVML failed ({said})."


_NVML: dict[str, ModuleType | NvmlUnavailable] = {}


def load_nvml() -> ModuleType:
    """``pynvml``, initialized once per process.

    Raises:
        NvmlUnavailable: with ``nvml_problem``'s message.
    """
    found = _NVML.get("module")
    if isinstance(found, NvmlUnavailable):
        raise found
    if found is not None:
        return found
    problem: str | None = None
    try:
        import pynvml

        pynvml.nvmlInit()
    except ImportError as exc:
        problem = nvml_problem(exc)
    except Exception as exc:  # pynvml raises NVMLError subclasses, one per code
        problem = nvml_problem(exc)
    if problem is not None:
        _NVML["module"] = NvmlUnavailable(problem)
        raise NvmlUnavailable(problem)
    module: ModuleType = pynvml
    _NVML["module"] = module
    return module


def reset_nvml() -> None:
    """Forget the process's NVML (for tests that swap the ``pynvml`` module)."""
    _NVML.clear()


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def normalize_pci_bus_id(bus_id: object) -> str:
    """``00000000:3B:00.0`` (NVML) and ``0000:3b:00.0`` (TensorFlow) -> ``0000:3b:00.0``.

    Raises:
        ValueError: not a PCI bus id.
    """
    match = _PCI.match(_text(bus_id))
    if match is None:
        raise ValueError(
            f"Expected a PCI bus id such as '0000:3b:00.0'. Received: bus_id={bus_id!r}"
        )
    domain = int(match.group("domain") or "0", 16)
    bus, device = int(match.group("bus"), 16), int(match.group("device"), 16)
    return f"{domain:04x}:{bus:02x}:{device:02x}.{match.group('function')}"


@dataclass(frozen=True)
class NvmlDevice:
    """One GPU as NVML knows it: its handle, PCI bus id and name."""

    handle: Any
    pci_bus_id: str
    name: str
    index: int


def nvml_devices(nvml: ModuleType) -> list[NvmlDevice]:
    """Every GPU NVML lists, with its normalized PCI bus id."""
    found = []
    for index in range(int(nvml.nvmlDeviceGetCount())):
        handle = nvml.nvmlDeviceGetHandleByIndex(index)
        pci = nvml.nvmlDeviceGetPciInfo(handle)
        found.append(
            NvmlDevice(
                handle,
                normalize_pci_bus_id(pci.busId),
                _text(nvml.nvmlDeviceGetName(handle)),
                index,
            )
        )
    return found


def match_devices(bus_ids: Sequence[str], listed: Sequence[NvmlDevice]) -> list[NvmlDevice]:
    """NVML's device for each of TensorFlow's bus ids, in that order.

    Raises:
        NvmlUnavailable: a bus id NVML does not list (the message names both sides).
    """
    by_bus = {device.pci_bus_id: device for device in listed}
    missing = [bus for bus in bus_ids if bus not in by_bus]
    if missing:
        seen = ", ".join(d.pci_bus_id for d in listed) or "none"
        raise NvmlUnavailable(
            f"GPU telemetry is off: TensorFlow trains on the GPU at PCI bus "
            f"{', '.join(missing)}, which NVML does not list (NVML lists {seen})."
        )
    return [by_bus[bus] for bus in bus_ids]


@dataclass(frozen=True)
class GpuTelemetry:
    """One GPU's samples during a run's timed windows, summarized.

    A figure NVML does not report on this GPU (``NVML_ERROR_NOT_SUPPORTED``)
    is None and named in ``unsupported``. ``throttle_shares`` gives, per
    throttle reason (``THROTTLE_REASONS``), the share of samples in which it
    was active; ``other_processes`` the process ids NVML listed as computing
    on the GPU besides this one. In a container NVML may list the host's
    process ids, where this process has another: ``foreign_pids`` is then
    True, and ``other_processes`` holds every id of a sample that listed more
    than one process (one of them is this one, the others are not).
    """

    pci_bus_id: str
    name: str
    samples: int
    utilization_mean_percent: float | None = None
    utilization_peak_percent: float | None = None
    memory_used_peak_bytes: int | None = None
    power_mean_watts: float | None = None
    power_peak_watts: float | None = None
    sm_clock_mean_mhz: float | None = None
    sm_clock_peak_mhz: float | None = None
    memory_clock_mean_mhz: float | None = None
    memory_clock_peak_mhz: float | None = None
    temperature_mean_celsius: float | None = None
    temperature_peak_celsius: float | None = None
    throttle_shares: Mapping[str, float] = field(default_factory=dict)
    other_processes: tuple[int, ...] = ()
    unsupported: tuple[str, ...] = ()
    foreign_pids: bool = False

    @property
    def label(self) -> str:
        return f"{self.name} at PCI {self.pci_bus_id}"

    def disturbances(self) -> list[str]:
        """Why this GPU's timing cannot be trusted, one sentence each (empty: none)."""
        found = []
        throttled = {
            reason: share
            for reason, share in self.throttle_shares.items()
            if share >= THROTTLED_SHARE
        }
        if throttled:
            listed = ", ".join(f"{r} in {s:.0%} of samples" for r, s in sorted(throttled.items()))
            found.append(f"clocks throttled on the {self.label}: {listed}")
        if self.other_processes and self.foreign_pids:
            pids = ", ".join(str(pid) for pid in self.other_processes)
            found.append(
                f"another process used the {self.label}: NVML listed processes {pids} at "
                "once, ids of another PID namespace (a container), so one is this process "
                "and the others are not"
            )
        elif self.other_processes:
            pids = ", ".join(str(pid) for pid in self.other_processes)
            found.append(f"another process used the {self.label} (pid {pids})")
        utilization = self.utilization_mean_percent
        if utilization is not None and utilization < STARVED_UTILIZATION_PERCENT:
            found.append(
                f"the {self.label} was busy {utilization:.0f}% of the time on average "
                f"(below {STARVED_UTILIZATION_PERCENT:.0f}%): starved for input"
            )
        return found

    def to_dict(self) -> dict[str, Any]:
        return {
            **{name: getattr(self, name) for name in _GPU_FIGURES},
            "pci_bus_id": self.pci_bus_id,
            "name": self.name,
            "samples": self.samples,
            "throttle_shares": dict(self.throttle_shares),
            "other_processes": list(self.other_processes),
            "unsupported": list(self.unsupported),
            "foreign_pids": self.foreign_pids,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GpuTelemetry:
        return cls(
            pci_bus_id=data["pci_bus_id"],
            name=data["name"],
            samples=int(data["samples"]),
            **{name: data.get(name) for name in _GPU_FIGURES},
            throttle_shares=dict(data.get("throttle_shares", {})),
            other_processes=tuple(data.get("other_processes", ())),
            unsupported=tuple(data.get("unsupported", ())),
            foreign_pids=bool(data.get("foreign_pids", False)),
        )


_GPU_FIGURES = (
    "utilization_mean_percent",
    "utilization_peak_percent",
    "memory_used_peak_bytes",
    "power_mean_watts",
    "power_peak_watts",
    "sm_clock_mean_mhz",
    "sm_clock_peak_mhz",
    "memory_clock_mean_mhz",
    "memory_clock_peak_mhz",
    "temperature_mean_celsius",
    "temperature_peak_celsius",
)


@dataclass(frozen=True)
class RunTelemetry:
    """The telemetry of one run: a summary per GPU, or why there is none."""

    gpus: tuple[GpuTelemetry, ...] = ()
    interval_seconds: float = DEFAULT_INTERVAL_SECONDS
    error: str | None = None

    def disturbances(self) -> list[str]:
        """Every GPU's reasons not to trust the run's timing."""
        return [reason for gpu in self.gpus for reason in gpu.disturbances()]

    def figure(self, name: str, combine: Callable[[list[float]], float]) -> float | None:
        """``name`` (a ``GpuTelemetry`` field) combined over the GPUs that report it."""
        values = [float(v) for gpu in self.gpus if (v := getattr(gpu, name)) is not None]
        return combine(values) if values else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "gpus": [gpu.to_dict() for gpu in self.gpus],
            "interval_seconds": self.interval_seconds,
            "error": self.error,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunTelemetry:
        return cls(
            gpus=tuple(GpuTelemetry.from_dict(g) for g in data.get("gpus", ())),
            interval_seconds=float(data.get("interval_seconds", DEFAULT_INTERVAL_SECONDS)),
            error=data.get("error"),
        )


def disturbances_of(telemetries: Iterable[RunTelemetry | None]) -> tuple[str, ...]:
    """The distinct disturbances of several runs, in order of first appearance."""
    found: dict[str, None] = {}
    for telemetry in telemetries:
        if telemetry is not None:
            found.update(dict.fromkeys(telemetry.disturbances()))
    return tuple(found)


def telemetry_errors(telemetries: Iterable[RunTelemetry | None]) -> tuple[str, ...]:
    """The distinct reasons runs had no telemetry: said once in the summary."""
    found: dict[str, None] = {}
    for telemetry in telemetries:
        if telemetry is not None and telemetry.error:
            found[telemetry.error] = None
    return tuple(found)


class _Series:
    """One GPU's raw samples."""

    def __init__(self, device: NvmlDevice) -> None:
        self.device = device
        self.count = 0
        self.values: dict[str, list[float]] = {}
        self.reasons: dict[str, int] = {}
        self.others: set[int] = set()
        self.foreign = False
        self.unsupported: set[str] = set()

    def add(self, name: str, value: float) -> None:
        self.values.setdefault(name, []).append(value)

    def summary(self) -> GpuTelemetry:
        def mean(name: str) -> float | None:
            got = self.values.get(name)
            return math.fsum(got) / len(got) if got else None

        def peak(name: str) -> float | None:
            got = self.values.get(name)
            return max(got) if got else None

        memory = peak("memory")
        return GpuTelemetry(
            pci_bus_id=self.device.pci_bus_id,
            name=self.device.name,
            samples=self.count,
            utilization_mean_percent=mean("utilization"),
            utilization_peak_percent=peak("utilization"),
            memory_used_peak_bytes=None if memory is None else int(memory),
            power_mean_watts=mean("power"),
            power_peak_watts=peak("power"),
            sm_clock_mean_mhz=mean("sm_clock"),
            sm_clock_peak_mhz=peak("sm_clock"),
            memory_clock_mean_mhz=mean("memory_clock"),
            memory_clock_peak_mhz=peak("memory_clock"),
            temperature_mean_celsius=mean("temperature"),
            temperature_peak_celsius=peak("temperature"),
            throttle_shares={
                reason: hits / self.count for reason, hits in self.reasons.items() if self.count
            },
            other_processes=tuple(sorted(self.others)),
            foreign_pids=self.foreign,
            unsupported=tuple(sorted(self.unsupported)),
        )


class Sampler:
    """Samples the GPUs of one run on a background thread while a window is open.

    ``start`` and ``stop`` bracket the windowed ``fit``; ``resume`` and
    ``pause`` are the timer's, at each window's ends (outside its clock
    reads). ``sample`` takes one sample of every GPU now (the thread's work,
    public for tests). Never raises from NVML: a figure the GPU does not
    report is left out, any other NVML failure ends the sampling and becomes
    the telemetry's ``error``.
    """

    def __init__(
        self,
        nvml: ModuleType,
        devices: Sequence[NvmlDevice],
        *,
        interval_seconds: float = DEFAULT_INTERVAL_SECONDS,
        own_pids: Iterable[int] | None = None,
    ) -> None:
        if not (isinstance(interval_seconds, (int, float)) and interval_seconds > 0):
            raise ValueError(
                "Expected interval_seconds to be a number above 0. "
                f"Received: interval_seconds={interval_seconds!r}"
            )
        self._nvml = nvml
        self._series = [_Series(device) for device in devices]
        self.interval_seconds = float(interval_seconds)
        self._own = set(own_pids) if own_pids is not None else {os.getpid()}
        self._active = threading.Event()
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.error: str | None = None

    # -- the timer's side ----------------------------------------------------------

    def resume(self) -> None:
        """A window opens: sample from now on (an event set, nothing more)."""
        self._active.set()

    def pause(self) -> None:
        """The window closed: stop sampling until the next one."""
        self._active.clear()

    # -- around the windowed fit -----------------------------------------------------

    def start(self) -> None:
        """Start the thread, paused until the first window opens."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop, name="cnnperf-telemetry", daemon=True)
        self._thread.start()

    def stop(self) -> RunTelemetry:
        """Stop and join the thread; return the summary of what it sampled."""
        self._active.clear()
        self._stopped.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None
        return self.summary()

    def summary(self) -> RunTelemetry:
        with self._lock:
            gpus = tuple(series.summary() for series in self._series)
        return RunTelemetry(gpus, self.interval_seconds, self.error)

    def _loop(self) -> None:
        while not self._stopped.is_set():
            if not self._active.wait(timeout=0.1):
                continue
            if not self.sample(only_if_active=True):
                return
            self._stopped.wait(self.interval_seconds)

    # -- one sample ---------------------------------------------------------------------

    def sample(self, *, only_if_active: bool = False) -> bool:
        """Sample every GPU once; False when NVML failed and sampling must end.

        With ``only_if_active``, a sample during which the window closed is
        dropped: it would describe the idle time between windows.
        """
        nvml = self._nvml
        taken: list[tuple[_Series, dict[str, float], list[str], set[int], set[str], bool]] = []
        try:
            for series in self._series:
                values: dict[str, float] = {}
                reasons: list[str] = []
                others: set[int] = set()
                foreign = False
                unsupported: set[str] = set()
                handle = series.device.handle
                reads = _reads(nvml, handle)
                for name, read in reads.items():
                    if name in series.unsupported or name == "clocks_event_reasons":
                        continue
                    value = self._read(read, name, unsupported)
                    if value is not None:
                        values[name] = value
                if "clocks_event_reasons" not in series.unsupported:
                    mask = self._read(
                        reads["clocks_event_reasons"],
                        "clocks_event_reasons",
                        unsupported,
                    )
                    if mask is not None:
                        bits = int(mask)
                        reasons = [text for bit, text in THROTTLE_REASONS.items() if bits & bit]
                if "processes" not in series.unsupported:
                    listed = self._read_processes(handle, unsupported)
                    others, foreign = self._others(listed)
                taken.append((series, values, reasons, others, unsupported, foreign))
        except _NvmlFailed as failed:
            self.error = failed.message
            return False
        if only_if_active and not self._active.is_set():
            return True
        with self._lock:
            for series, values, reasons, others, unsupported, foreign in taken:
                series.count += 1
                for name, value in values.items():
                    series.add(name, value)
                for reason in reasons:
                    series.reasons[reason] = series.reasons.get(reason, 0) + 1
                series.others |= others
                series.foreign = series.foreign or (foreign and bool(others))
                series.unsupported |= unsupported
        return True

    def _others(self, listed: list[int]) -> tuple[set[int], bool]:
        """The other processes among ``listed``, and whether the ids were foreign.

        This process trains on the GPU while it is sampled, so NVML lists it;
        when none of the ids is this process's, they come from another PID
        namespace, and only a second process at once proves another one.
        """
        if self._own.intersection(listed) or not listed:
            return {pid for pid in listed if pid not in self._own}, False
        return (set(listed) if len(set(listed)) > 1 else set()), True

    def _read(self, read: Callable[[], float], name: str, unsupported: set[str]) -> float | None:
        try:
            return read()
        except Exception as exc:
            if getattr(exc, "value", None) in _NOT_HERE:
                unsupported.add(name)
                return None
            raise _NvmlFailed(nvml_problem(exc)) from None

    def _read_processes(self, handle: Any, unsupported: set[str]) -> list[int]:
        try:
            return [int(p.pid) for p in self._nvml.nvmlDeviceGetComputeRunningProcesses(handle)]
        except Exception as exc:
            if getattr(exc, "value", None) in (*_NOT_HERE, NVML_ERROR_NO_PERMISSION):
                unsupported.add("processes")
                return []
            raise _NvmlFailed(nvml_problem(exc)) from None


#: A figure this GPU or driver does not give: left out, named in ``unsupported``.
#: FUNCTION_NOT_FOUND is a driver older than the binding's function (the
#: clocks-event reasons and the v3 process list need driver 535 and newer).
_NOT_HERE = (NVML_ERROR_NOT_SUPPORTED, NVML_ERROR_FUNCTION_NOT_FOUND)


class _NvmlFailed(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _reads(nvml: ModuleType, handle: Any) -> dict[str, Callable[[], float]]:
    """How each figure of one GPU is read, by name."""

    def utilization() -> float:
        return float(nvml.nvmlDeviceGetUtilizationRates(handle).gpu)

    def memory() -> float:
        return float(nvml.nvmlDeviceGetMemoryInfo(handle).used)

    def power() -> float:
        return float(nvml.nvmlDeviceGetPowerUsage(handle)) / 1000.0  # NVML: milliwatts

    def sm_clock() -> float:
        return float(nvml.nvmlDeviceGetClockInfo(handle, nvml.NVML_CLOCK_SM))

    def memory_clock() -> float:
        return float(nvml.nvmlDeviceGetClockInfo(handle, nvml.NVML_CLOCK_MEM))

    def temperature() -> float:
        return float(nvml.nvmlDeviceGetTemperature(handle, nvml.NVML_TEMPERATURE_GPU))

    def clocks_event_reasons() -> float:
        return float(_clocks_event_reasons(nvml, handle))

    return {
        "clocks_event_reasons": clocks_event_reasons,
        "utilization": utilization,
        "memory": memory,
        "power": power,
        "sm_clock": sm_clock,
        "memory_clock": memory_clock,
        "temperature": temperature,
    }


def _clocks_event_reasons(nvml: ModuleType, handle: Any) -> int:
    """The current clocks-event reasons (named throttle reasons before driver 535)."""
    read = getattr(nvml, "nvmlDeviceGetCurrentClocksEventReasons", None)
    if read is not None:
        try:
            return int(read(handle))
        except Exception as exc:
            older = getattr(nvml, "nvmlDeviceGetCurrentClocksThrottleReasons", None)
            if getattr(exc, "value", None) != NVML_ERROR_FUNCTION_NOT_FOUND or older is None:
                raise
            # A driver before 535 has only the older name of the same reasons.
            return int(older(handle))
    return int(nvml.nvmlDeviceGetCurrentClocksThrottleReasons(handle))


def open_sampler(
    bus_ids: Sequence[str], *, interval_seconds: float = DEFAULT_INTERVAL_SECONDS
) -> Sampler | RunTelemetry:
    """A sampler for the GPUs at ``bus_ids``, or a ``RunTelemetry`` saying why there is none."""
    try:
        nvml = load_nvml()
        devices = match_devices(bus_ids, nvml_devices(nvml))
    except NvmlUnavailable as exc:
        return RunTelemetry(error=str(exc))
    except Exception as exc:  # an NVMLError while listing the devices
        return RunTelemetry(error=nvml_problem(exc))
    return Sampler(nvml, devices, interval_seconds=interval_seconds)


def sampler_for_devices(
    bus_ids: Mapping[str, str] | str,
    device_names: Sequence[str],
    *,
    interval_seconds: float = DEFAULT_INTERVAL_SECONDS,
) -> Sampler | RunTelemetry:
    """The sampler of the GPUs ``device_names``, found by the backend's ``bus_ids``.

    ``bus_ids`` is the backend's ``Devices.pci_bus_ids`` answer: the bus id of
    each device, or the sentence saying why the backend gave none.
    """
    if isinstance(bus_ids, str):
        return RunTelemetry(error=bus_ids)
    return open_sampler([bus_ids[name] for name in device_names], interval_seconds=interval_seconds)
