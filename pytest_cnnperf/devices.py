"""Device discovery, the ``--cnnperf-gpu`` check, and pinning.

Without ``--cnnperf-gpu`` every GPU is hidden from TensorFlow before its
runtime starts, so CPU figures never mix with GPU ones even on a GPU machine.
With it, under ``pytest -n N`` worker ``gwI`` sees only GPU ``I`` (pinned
before TensorFlow's runtime starts, so it never opens a context on another
worker's GPU), and more workers than GPUs are refused at start
(``too_many_workers``): two workers on one GPU would time each other.
``--cnnperf-device`` picks one GPU for a process. A single process without it
sees every GPU, trains on the first, and a test can spread its training over
several with ``strategy="mirrored"`` (memory growth is on for each).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from types import ModuleType


class DeviceError(RuntimeError):
    """The requested device cannot be used; the message says why and what to do."""


def missing_gpu_message(tf: ModuleType) -> str | None:
    """Explain why no GPU is usable, or return None when one is visible."""
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        return None
    cuda_visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    cuda_text = "unset" if cuda_visible is None else repr(cuda_visible)
    built = "with" if tf.test.is_built_with_cuda() else "without"
    return (
        "--cnnperf-gpu was given, but TensorFlow sees no GPU, and pytest-cnnperf never "
        "falls back to the CPU silently. Looked for: "
        "tf.config.list_physical_devices('GPU') returned []; "
        f"CUDA_VISIBLE_DEVICES is {cuda_text}; "
        f"TensorFlow {tf.__version__} was built {built} CUDA. "
        "Install the CUDA build with pip install 'pytest-cnnperf[gpu]', check that "
        "nvidia-smi lists the GPU and that CUDA_VISIBLE_DEVICES does not hide it, "
        "or drop --cnnperf-gpu to measure on the CPU."
    )


def worker_index(worker_id: str | None) -> int:
    """``gw3`` -> 3; the controller or a run without xdist -> 0."""
    if worker_id and worker_id.startswith("gw") and worker_id[2:].isdigit():
        return int(worker_id[2:])
    return 0


def too_many_workers(workers: object, gpus: int) -> str | None:
    """The usage error for ``-n workers`` with fewer GPUs, or None when each has its own."""
    if not isinstance(workers, int) or isinstance(workers, bool) or workers <= gpus:
        return None
    return (
        f"argument -n: expected at most {gpus} xdist worker{'s' if gpus != 1 else ''} with "
        f"--cnnperf-gpu, one per GPU TensorFlow sees (workers sharing a GPU time each "
        f"other), got {workers}"
    )


def choose_index(requested: int | None, worker_id: str | None, count: int, kind: str) -> int:
    """Pick the device index for this process among ``count`` devices.

    Under xdist (``worker_id`` ``gwI``) without a requested index, worker
    ``I`` gets device ``I``; a worker beyond the devices is a ``DeviceError``.
    """
    if count < 1:
        raise DeviceError(f"No {kind.upper()} device is visible to TensorFlow.")
    if requested is None:
        index = worker_index(worker_id)
        if index >= count:
            raise DeviceError(
                f"xdist worker {worker_id} would train on {kind.upper()}:{index}, but "
                f"TensorFlow sees {count} {kind.upper()} device{'s' if count != 1 else ''}: "
                f"each worker needs its own. Expected at most {count} workers. "
                f"Received: worker_id={worker_id!r}"
            )
        return index
    if requested >= count:
        raise DeviceError(
            f"--cnnperf-device {requested} asks for {kind.upper()}:{requested}, but "
            f"TensorFlow sees {count} {kind.upper()} device{'s' if count != 1 else ''} "
            f"(indices 0 to {count - 1}). Expected an index below {count}. "
            f"Received: --cnnperf-device={requested}"
        )
    return requested


@dataclass(frozen=True)
class Placement:
    """Where this process trains: a TensorFlow device name and its index."""

    device_name: str
    kind: str
    index: int
    visible_count: int


def pin(tf: ModuleType, *, gpu: bool, requested: int | None, worker_id: str | None) -> Placement:
    """Hide or select devices before TensorFlow's runtime starts; return the placement.

    Must run before the first TensorFlow operation of the process.
    """
    if not gpu:
        tf.config.set_visible_devices([], "GPU")
        cpus = tf.config.list_logical_devices("CPU")
        # CPU workers share the host: 'auto' means logical CPU 0 for all of them.
        index = choose_index(requested if requested is not None else 0, None, len(cpus), "cpu")
        return Placement(cpus[index].name, "cpu", index, len(cpus))
    gpus = tf.config.list_physical_devices("GPU")
    index = choose_index(requested, worker_id, len(gpus), "gpu")
    # One process alone (no xdist, no --cnnperf-device) keeps every GPU, for a
    # mirrored strategy; it trains on the first unless a test says otherwise.
    alone = worker_id is None and requested is None
    chosen = gpus if alone else [gpus[index]]
    tf.config.set_visible_devices(chosen, "GPU")
    for gpu in chosen:
        # Grow memory on demand so that other processes on the machine keep theirs.
        tf.config.experimental.set_memory_growth(gpu, True)
    logical = tf.config.list_logical_devices("GPU")
    return Placement(logical[0].name, "gpu", index, len(gpus))


def synchronize(tf: ModuleType) -> None:
    """Block until every device has finished its queued work."""
    tf.test.experimental.sync_devices()
