"""The process's TensorFlow set-up: device pinning, precision, determinism, seeds.

TensorFlow accepts its device configuration only before its runtime starts,
that is once per process: the first set-up is kept for the process and handed
to every later caller. Imported by the ``cnnperf_runtime`` fixture, never at
plugin load.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pytest_cnnperf import devices
from pytest_cnnperf.backend import import_keras, import_tensorflow

if TYPE_CHECKING:
    from pytest_cnnperf.config import CnnperfConfig


@dataclass(frozen=True)
class Runtime:
    """Per-process TensorFlow set-up, done once before the first operation."""

    placement: devices.Placement
    precision: str
    deterministic: bool


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


def _set_up(cfg: CnnperfConfig, worker_id: str | None) -> Runtime:
    tf = import_tensorflow()
    keras = import_keras()
    placement = devices.pin(tf, gpu=cfg.gpu, requested=cfg.device_index, worker_id=worker_id)
    keras.mixed_precision.set_global_policy(cfg.precision)
    if cfg.deterministic:
        tf.config.experimental.enable_op_determinism()
    return Runtime(placement, cfg.precision, cfg.deterministic)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and the Keras backend."""
    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    import_keras().utils.set_random_seed(seed)
