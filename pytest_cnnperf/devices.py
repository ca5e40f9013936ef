"""Which device a process trains on: the rules every backend's pinning follows.

Without ``--cnnperf-gpu`` every GPU is hidden from the backend before its
runtime starts, so CPU figures never mix with GPU ones even on a GPU machine.
With it, under ``pytest -n N`` worker ``gwI`` sees only GPU ``I`` (pinned
before the runtime starts, so it never opens a context on another worker's
GPU), and more workers than GPUs are refused at start (``too_many_workers``):
two workers on one GPU would time each other. ``--cnnperf-device`` picks one
GPU for a process. A single process without it sees every GPU, trains on the
first, and on TensorFlow a test can spread its training over several with
``strategy="mirrored"`` (memory growth is on for each). The backends'
``Devices`` (``pytest_cnnperf.backends``) apply these rules; nothing here
imports a framework.

PYTEST_DONT_REWRITE: loaded in every pytest run (the backend is chosen at
start), so pytest must not parse and recompile it for assertion rewriting.
"""

from __future__ import annotations

from dataclasses import dataclass


class DeviceError(RuntimeError):
    """The requested device cannot be used; the message says why and what to do."""


def worker_index(worker_id: str | None) -> int:
    """``gw3`` -> 3; the controller or a run without xdist -> 0."""
    if worker_id and worker_id.startswith("gw") and worker_id[2:].isdigit():
        return int(worker_id[2:])
    return 0


def too_many_workers(workers: object, gpus: int, who: str = "TensorFlow") -> str | None:
    """The usage error for ``-n workers`` with fewer GPUs, or None when each has its own."""
    if not isinstance(workers, int) or isinstance(workers, bool) or workers <= gpus:
        return None
    return (
        f"argument -n: expected at most {gpus} xdist worker{'s' if gpus != 1 else ''} with "
        f"--cnnperf-gpu, one per GPU {who} sees (workers sharing a GPU time each "
        f"other), got {workers}"
    )


def choose_index(
    requested: int | None, worker_id: str | None, count: int, kind: str, who: str = "TensorFlow"
) -> int:
    """Pick the device index for this process among ``count`` devices.

    Under xdist (``worker_id`` ``gwI``) without a requested index, worker
    ``I`` gets device ``I``; a worker beyond the devices is a ``DeviceError``.
    """
    if count < 1:
        raise DeviceError(f"No {kind.upper()} device is visible to {who}.")
    if requested is None:
        index = worker_index(worker_id)
        if index >= count:
            raise DeviceError(
                f"xdist worker {worker_id} would train on {kind.upper()}:{index}, but "
                f"{who} sees {count} {kind.upper()} device{'s' if count != 1 else ''}: "
                f"each worker needs its own. Expected at most {count} workers. "
                f"Received: worker_id={worker_id!r}"
            )
        return index
    if requested >= count:
        raise DeviceError(
            f"--cnnperf-device {requested} asks for {kind.upper()}:{requested}, but "
            f"{who} sees {count} {kind.upper()} device{'s' if count != 1 else ''} "
            f"(indices 0 to {count - 1}). Expected an index below {count}. "
            f"Received: --cnnperf-device={requested}"
        )
    return requested


@dataclass(frozen=True)
class Placement:
    """Where this process trains: a device name its backend accepts, and its index."""

    device_name: str
    kind: str
    index: int
    visible_count: int
