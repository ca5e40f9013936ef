"""The process's backend set-up: device pinning, precision, determinism, seeds.

A Keras backend accepts its device configuration only before its runtime
starts, that is once per process: the first set-up is kept for the process
and handed to every later caller. The backend's own calls are its
``Devices`` and ``Numerics`` (``pytest_cnnperf.backends``). Imported by the
``cnnperf_runtime`` fixture, never at plugin load.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pytest_cnnperf import backends, cores, devices, environment
from pytest_cnnperf.backends.imports import import_keras

if TYPE_CHECKING:
    from pytest_cnnperf.config import CnnperfConfig


@dataclass(frozen=True)
class Runtime:
    """Per-process backend set-up, done once before the first operation."""

    placement: devices.Placement
    precision: str
    deterministic: bool
    #: TF32 matrix multiplies in force (the backend's own report, after set-up).
    tf32: bool = False
    #: XLA compilation of the train step (``--cnnperf-jit``).
    jit: bool = False


def keras_policy(precision: str) -> str:
    """The Keras dtype policy of a ``--cnnperf-precision`` value (``tf32`` is float32)."""
    return "float32" if precision in ("float32", "tf32") else precision


class ProcessRuntime:
    """The one ``Runtime`` of this process, set up by the first ``get``.

    Later calls return the first set-up whatever configuration they pass: the
    devices the backend has started on cannot be changed. A set-up that failed
    is remembered too, and its ``DeviceError`` raised again, because the
    backend's runtime may have started during the attempt.
    """

    def __init__(self) -> None:
        self._outcome: Runtime | devices.DeviceError | None = None

    def get(self, cfg: CnnperfConfig, worker_id: str | None) -> Runtime:
        """Return this process's ``Runtime``, setting it up on the first call.

        Raises:
            devices.DeviceError: the requested device does not exist.
        """
        if self._outcome is None:
            try:
                self._outcome = _set_up(cfg, worker_id)
            except devices.DeviceError as exc:
                self._outcome = exc
        if isinstance(self._outcome, devices.DeviceError):
            raise self._outcome
        return self._outcome


#: This process's backend set-up; see ``ProcessRuntime``.
PROCESS_RUNTIME = ProcessRuntime()


def initialize_runtime(cfg: CnnperfConfig, worker_id: str | None) -> Runtime:
    """Pin devices, set precision and determinism once per process.

    Raises:
        devices.DeviceError: the requested device does not exist.
    """
    return PROCESS_RUNTIME.get(cfg, worker_id)


#: The CPU arrangement this process set up (see ``share_cores``), for ``arrangement``.
_ARRANGEMENT: dict[str, object] = {}


def worker_count() -> int:
    """xdist workers of this session (1 without xdist)."""
    raw = os.environ.get("PYTEST_XDIST_WORKER_COUNT", "")
    return int(raw) if raw.isdigit() and int(raw) > 0 else 1


def cores_of_worker(cores: list[int], index: int, workers: int) -> list[int]:
    """Worker ``index``'s share of ``cores``: a contiguous slice, at least one core.

    With more workers than cores, workers share cores round-robin (the
    arrangement records it, and timings measured so are judged only against
    baselines measured the same way).
    """
    if workers <= 1 or not cores:
        return list(cores)
    if workers > len(cores):
        return [cores[index % len(cores)]]
    share, extra = divmod(len(cores), workers)
    start = index * share + min(index, extra)
    return cores[start : start + share + (1 if index < extra else 0)]


def share_cores(numerics: backends.Numerics, worker_id: str | None) -> None:
    """On CPU under xdist, pin this worker to its share of the cores, threads to match.

    Must run before the backend's runtime starts (thread pools are fixed
    then). Without ``os.sched_setaffinity`` (macOS, Windows) nothing is
    pinned and the arrangement says so.
    """
    # The count is inherited by subprocesses (pytester): only a worker counts it.
    workers = worker_count() if worker_id else 1
    _ARRANGEMENT.clear()
    _ARRANGEMENT["workers"] = workers
    if not hasattr(os, "sched_getaffinity"):
        _ARRANGEMENT["pinned"] = False
        return
    available = sorted(os.sched_getaffinity(0))
    environment.note_cores_before_pinning(len(available))
    mine = cores_of_worker(available, devices.worker_index(worker_id), workers)
    pinned = worker_id is not None and workers > 1 and mine != available
    if pinned:
        os.sched_setaffinity(0, mine)
        numerics.share_threads(len(mine))
    _ARRANGEMENT["pinned"] = pinned
    _ARRANGEMENT["cores"] = len(mine)


def arrangement() -> dict[str, object]:
    """``{"cores": 2, "threads": 2, "workers": 1, "pinned": False}`` for this process.

    ``cores`` counts the cores the process may run on (its own share under
    xdist), ``threads`` the backend's intra-op threads (its default is one
    per core), ``workers`` the xdist workers sharing the machine.
    """
    usable = cores.usable()
    threads = backends.current().numerics.threads()
    return {
        "cores": usable,
        "threads": threads or usable,
        "workers": int(str(_ARRANGEMENT.get("workers", 1))),
        "pinned": bool(_ARRANGEMENT.get("pinned", False)),
    }


def _set_up(cfg: CnnperfConfig, worker_id: str | None) -> Runtime:
    backend = backends.current()
    if not cfg.gpu:
        share_cores(backend.numerics, worker_id)
    # Flags some backends read when their runtime starts (XLA's) come first.
    backend.numerics.configure(precision=cfg.precision, deterministic=cfg.deterministic)
    placement = backend.devices.pin(gpu=cfg.gpu, requested=cfg.device_index, worker_id=worker_id)
    # After pinning: Keras' PyTorch backend picks its device on import.
    keras = import_keras()
    keras.mixed_precision.set_global_policy(keras_policy(cfg.precision))
    return Runtime(
        placement,
        cfg.precision,
        cfg.deterministic,
        tf32=backend.numerics.tf32(),
        jit=getattr(cfg, "jit", False),
    )


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and the Keras backend."""
    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    import_keras().utils.set_random_seed(seed)
