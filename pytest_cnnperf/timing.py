"""Epoch timing inside ``model.fit``.

The timed region of an epoch runs from ``on_epoch_begin`` to ``on_epoch_end``
of the first callback in the list, with the devices synchronized before each
clock read. ``fit`` is given no validation data, so the region holds training
steps only: evaluation, reporting and JSON happen after ``fit`` returns.

The callback declares itself ``async_safe``: Keras then hands per-step logs to
it on a worker thread instead of forcing a device sync after every step, and
flushes that thread before ``on_epoch_end``. That is how the step of a NaN is
found without slowing the steps down.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class EpochTiming:
    """Raw timing of one epoch, before it becomes an ``EpochResult``."""

    index: int
    seconds: float
    steps: int
    logs: dict[str, float]


@dataclass(frozen=True)
class NonFinite:
    """Where the loss first stopped being a finite number (0-based indices)."""

    epoch: int
    step: int
    value: float


class EpochRecorder:
    """Backend-free state of the timer: clock reads, step counts, first NaN."""

    def __init__(
        self, sync: Callable[[], None], clock: Callable[[], float] = time.perf_counter
    ) -> None:
        self._sync = sync
        self._clock = clock
        self._lock = threading.Lock()
        self._started = 0.0
        self._steps = 0
        self._epoch = 0
        self.epochs: list[EpochTiming] = []
        self.non_finite: NonFinite | None = None

    def begin_epoch(self, epoch: int) -> None:
        self._epoch = epoch
        self._steps = 0
        self._sync()
        self._started = self._clock()

    def end_step(self, step: int, logs: dict[str, Any] | None) -> None:
        with self._lock:
            self._steps = max(self._steps, step + 1)
            loss = (logs or {}).get("loss")
            if self.non_finite is None and loss is not None and not math.isfinite(float(loss)):
                self.non_finite = NonFinite(self._epoch, step, float(loss))

    def end_epoch(self, epoch: int, logs: dict[str, Any] | None) -> bool:
        """Record the epoch; return True when training must stop (non-finite loss)."""
        self._sync()
        elapsed = self._clock() - self._started
        clean = {k: float(v) for k, v in (logs or {}).items() if isinstance(v, (int, float))}
        with self._lock:
            self.epochs.append(EpochTiming(epoch, elapsed, self._steps, clean))
            loss = clean.get("loss")
            if self.non_finite is None and loss is not None and not math.isfinite(loss):
                self.non_finite = NonFinite(epoch, max(self._steps - 1, 0), loss)
            return self.non_finite is not None


def keras_callback(recorder: EpochRecorder) -> Any:
    """Wrap ``recorder`` in a ``keras.callbacks.Callback``."""
    from pytest_cnnperf.backend import import_keras

    keras = import_keras()

    class EpochTimer(keras.callbacks.Callback):  # type: ignore[misc,name-defined]
        async_safe = True

        def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            recorder.begin_epoch(epoch)

        def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
            recorder.end_step(batch, logs)

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            if recorder.end_epoch(epoch, logs):
                self.model.stop_training = True

    return EpochTimer()
