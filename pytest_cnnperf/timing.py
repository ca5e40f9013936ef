"""Epoch and window timing inside ``model.fit``, and the reference kernel.

The measured part of a run is timed as windows: Keras epochs of a fixed number
of steps over the repeated training pipeline (see ``training``), each timed by
this module's callback like any epoch. After each window, outside it, a
fixed NumPy matrix-product kernel is timed (``ReferenceKernel``): it does not
use TensorFlow, so a machine that is slower today (a busy neighbour, a lower
clock) slows it too, while a slower TensorFlow does not.

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
from typing import Any, Protocol

from pytest_cnnperf import cores


class WindowWatcher(Protocol):
    """Told when a timed window opens and closes, outside its clock reads (telemetry)."""

    def resume(self) -> None: ...

    def pause(self) -> None: ...


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
        self,
        sync: Callable[[], None],
        clock: Callable[[], float] = time.perf_counter,
        step_clock: Callable[[], float] = time.perf_counter,
        watcher: WindowWatcher | None = None,
        watch_from: int = 0,
    ) -> None:
        self._sync = sync
        # Resumed before an epoch's sync and first clock read, paused after its
        # last: the watcher's work (a GPU sampler's thread) never starts or
        # stops inside the timed region. Epochs before ``watch_from`` (warm-up)
        # are not watched.
        self._watcher = watcher
        self._watch_from = watch_from
        self._clock = clock
        # Read on Keras' callback thread at each step's end, never after a
        # sync: only to estimate the step time that sizes the windows.
        self._step_clock = step_clock
        self._lock = threading.Lock()
        self._started = 0.0
        self._steps = 0
        self._epoch = 0
        self._first_step_at: float | None = None
        self._last_step_at: float | None = None
        self.epochs: list[EpochTiming] = []
        self.non_finite: NonFinite | None = None

    def begin_epoch(self, epoch: int) -> None:
        self._epoch = epoch
        self._steps = 0
        self._first_step_at = None
        self._last_step_at = None
        if self._watcher is not None and epoch >= self._watch_from:
            self._watcher.resume()
        self._sync()
        self._started = self._clock()

    def end_step(self, step: int, logs: dict[str, Any] | None) -> None:
        now = self._step_clock()
        with self._lock:
            if self._first_step_at is None:
                self._first_step_at = now
            self._last_step_at = now
            self._steps = max(self._steps, step + 1)
            loss = (logs or {}).get("loss")
            if self.non_finite is None and loss is not None and not math.isfinite(float(loss)):
                self.non_finite = NonFinite(self._epoch, step, float(loss))

    def end_epoch(self, epoch: int, logs: dict[str, Any] | None) -> bool:
        """Record the epoch; return True when training must stop (non-finite loss)."""
        self._sync()
        elapsed = self._clock() - self._started
        if self._watcher is not None:
            self._watcher.pause()
        clean = {k: float(v) for k, v in (logs or {}).items() if isinstance(v, (int, float))}
        with self._lock:
            self.epochs.append(EpochTiming(epoch, elapsed, self._steps, clean))
            self.last_steady_step_seconds = self._steady_step_seconds(elapsed)
            loss = clean.get("loss")
            if self.non_finite is None and loss is not None and not math.isfinite(loss):
                self.non_finite = NonFinite(epoch, max(self._steps - 1, 0), loss)
            return self.non_finite is not None

    last_steady_step_seconds: float | None = None
    """Seconds per step of the last epoch without its first step (tracing), or None."""

    def _steady_step_seconds(self, elapsed: float) -> float | None:
        # The first step of a run traces the graph: the steps after it are what
        # a window will hold. The step callbacks arrive on Keras' worker thread,
        # a little late but in order, so the span from the first to the end of
        # the epoch covers steps - 1 steps.
        if self._first_step_at is None or self._steps < 2:
            return elapsed / self._steps if self._steps else None
        span = self._started + elapsed - self._first_step_at
        return max(span, 0.0) / (self._steps - 1) or None


class ReferenceKernel:
    """A fixed NumPy kernel, timed between windows, on the threads TensorFlow uses.

    ``CHUNKS`` float32 matrix products of ``SIZE`` x ``SIZE``, computed with
    ``numpy.einsum`` (its own single-threaded loops, not BLAS) and shared out
    to ``threads`` Python threads through a queue, the way TensorFlow's
    intra-op pool shares out a step: with a core taken by another process the
    kernel slows by the share it lost, as a step does. A BLAS product on two
    threads was tried first and rejected: when another process held one of
    the two cores, its static split waited for the descheduled thread and
    took 15 to 25 times its quiet time in some windows and not in others
    (1.3 ms against 18 to 35 ms), which no estimator can use.

    The time is the best of ``REPEATS`` runs, after ``SETTLE_SECONDS`` of
    pause: right after a window TensorFlow's pools still spin and tf.data
    refills its prefetch buffer.
    """

    SIZE = 96
    CHUNKS = 16
    REPEATS = 2
    SETTLE_SECONDS = 0.02

    def __init__(
        self, threads: int | None = None, clock: Callable[[], float] = time.perf_counter
    ) -> None:
        import numpy as np

        rng = np.random.default_rng(20260101)
        self._a = rng.standard_normal((self.SIZE, self.SIZE), dtype=np.float32)
        self._b = rng.standard_normal((self.SIZE, self.SIZE), dtype=np.float32) / np.float32(
            self.SIZE
        )
        self._einsum = np.einsum
        self.threads = max(1, threads if threads is not None else kernel_threads())
        self._clock = clock
        self.seconds: list[float] = []
        self.run()  # the first call pays for page faults and thread start-up

    def _chunk(self, _index: int = 0) -> None:
        self._einsum("ij,jk->ik", self._a, self._b, optimize=False)

    def run(self) -> float:
        """Time the kernel once (best of ``REPEATS``); return the seconds."""
        time.sleep(self.SETTLE_SECONDS)
        best = math.inf
        pool = _pool(self.threads)
        for _ in range(self.REPEATS):
            started = self._clock()
            if pool is None:
                for index in range(self.CHUNKS):
                    self._chunk(index)
            else:
                for _ in pool.map(self._chunk, range(self.CHUNKS)):
                    pass
            best = min(best, self._clock() - started)
        return best

    def record(self) -> float:
        """Time the kernel and keep the figure."""
        seconds = self.run()
        self.seconds.append(seconds)
        return seconds


_POOLS: dict[int, Any] = {}


def _pool(threads: int) -> Any:
    """One thread pool per size, kept for the process: None for one thread."""
    if threads <= 1:
        return None
    if threads not in _POOLS:
        from concurrent.futures import ThreadPoolExecutor

        _POOLS[threads] = ThreadPoolExecutor(threads, thread_name_prefix="cnnperf-kernel")
    return _POOLS[threads]


def kernel_threads() -> int:
    """The backend's intra-op threads, or the cores this process may use."""
    try:
        from pytest_cnnperf import backends

        threads = backends.current().numerics.threads()
    except Exception:  # no backend installed: the cores decide
        threads = 0
    if threads:
        return threads
    return cores.usable()


def calibration_callback(kernel: ReferenceKernel) -> Any:
    """A callback that times ``kernel`` at each epoch end: after the timer, outside its window."""
    from pytest_cnnperf.backends.imports import import_keras

    keras = import_keras()

    class Calibration(keras.callbacks.Callback):  # type: ignore[misc,name-defined]
        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            kernel.record()

    return Calibration()


def keras_callback(recorder: EpochRecorder) -> Any:
    """Wrap ``recorder`` in a ``keras.callbacks.Callback``."""
    from pytest_cnnperf.backends.imports import import_keras

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
