"""The process's TensorFlow set-up: device pinning, precision, determinism, seeds.

TensorFlow accepts its device configuration only before its runtime starts,
that is once per process: the first set-up is kept for the process and handed
to every later caller. Imported by the ``cnnperf_runtime`` fixture, never at
plugin load.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pytest_cnnperf import devices, environment
from pytest_cnnperf.backend import import_keras, import_tensorflow

if TYPE_CHECKING:
    from pytest_cnnperf.config import CnnperfConfig


@dataclass(frozen=True)
class Runtime:
    """Per-process TensorFlow set-up, done once before the first operation."""

    placement: devices.Placement
    precision: str
    deterministic: bool
    #: TF32 matrix multiplies in force (TensorFlow's own report, after set-up).
    tf32: bool = False
    #: XLA compilation of the train step (``--cnnperf-jit``).
    jit: bool = False


def keras_policy(precision: str) -> str:
    """The Keras dtype policy of a ``--cnnperf-precision`` value (``tf32`` is float32)."""
    return "float32" if precision in ("float32", "tf32") else precision


class ProcessRuntime:
    """The one ``Runtime`` of this process, set up by the first ``get``.

    Later calls return the first set-up whatever configuration they pass: the
    devices TensorFlow has started on cannot be changed. A set-up that failed
    is remembered too, and its ``DeviceError`` raised again, because
    TensorFlow's runtime may have started during the attempt.
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


#: This process's TensorFlow set-up; see ``ProcessRuntime``.
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


def share_cores(tf: object, worker_id: str | None) -> None:
    """On CPU under xdist, pin this worker to its share of the cores, threads to match.

    Must run before TensorFlow's runtime starts (thread pools are fixed
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
    cores = sorted(os.sched_getaffinity(0))
    environment.note_cores_before_pinning(len(cores))
    mine = cores_of_worker(cores, devices.worker_index(worker_id), workers)
    pinned = worker_id is not None and workers > 1 and mine != cores
    if pinned:
        os.sched_setaffinity(0, mine)
        tf.config.threading.set_intra_op_parallelism_threads(len(mine))  # type: ignore[attr-defined]
        tf.config.threading.set_inter_op_parallelism_threads(len(mine))  # type: ignore[attr-defined]
    _ARRANGEMENT["pinned"] = pinned
    _ARRANGEMENT["cores"] = len(mine)


def arrangement() -> dict[str, object]:
    """``{"cores": 2, "threads": 2, "workers": 1, "pinned": False}`` for this process.

    ``cores`` counts the cores the process may run on (its own share under
    xdist), ``threads`` TensorFlow's intra-op threads (0: its default, one
    per core), ``workers`` the xdist workers sharing the machine.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    threads = 0
    tf = import_tensorflow()
    threads = int(tf.config.threading.get_intra_op_parallelism_threads())
    return {
        "cores": int(cores or 1),
        "threads": threads or int(cores or 1),
        "workers": int(str(_ARRANGEMENT.get("workers", 1))),
        "pinned": bool(_ARRANGEMENT.get("pinned", False)),
    }


def _set_up(cfg: CnnperfConfig, worker_id: str | None) -> Runtime:
    tf = import_tensorflow()
    keras = import_keras()
    if not cfg.gpu:
        share_cores(tf, worker_id)
    placement = devices.pin(tf, gpu=cfg.gpu, requested=cfg.device_index, worker_id=worker_id)
    keras.mixed_precision.set_global_policy(keras_policy(cfg.precision))
    # TensorFlow multiplies float32 matrices in TF32 by default on Ampere and
    # newer: float32 must say no, or it is not float32.
    tf.config.experimental.enable_tensor_float_32_execution(cfg.precision == "tf32")
    if cfg.deterministic:
        tf.config.experimental.enable_op_determinism()
    return Runtime(
        placement,
        cfg.precision,
        cfg.deterministic,
        tf32=bool(tf.config.experimental.tensor_float_32_execution_enabled()),
        jit=getattr(cfg, "jit", False),
    )


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and the Keras backend."""
    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    import_keras().utils.set_random_seed(seed)
