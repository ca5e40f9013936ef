"""Child processes for tests/test_atomicfile.py.

Each function runs in a process of its own started through multiprocessing's
forkserver context, which forks it from a clean server that has
pytest_cnnperf.atomicfile imported: a fresh process in milliseconds, without a
copy of the pytest process's threads and state.
"""

from __future__ import annotations

import functools
import json
import os
import time
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event
from pathlib import Path

from filelock import FileLock

from pytest_cnnperf.atomicfile import update_text_locked

#: Signal that a worker is ready, sent once through its pipe.
READY = b"ready"

#: The uid and gid a worker started as root drops to, so that permissions apply to it.
NOBODY = 65534


@functools.cache
def documents() -> tuple[str, str]:
    """Two complete documents of different lengths, large enough that writing one takes time.

    Any truncated or mixed file equals neither.
    """
    a = json.dumps({"document": "A", "padding": "a" * 1_500_000}) + "\n"
    b = json.dumps({"document": "B", "padding": "b" * 1_200_000}) + "\n"
    return a, b


def _next_document(current: str | None) -> str:
    a, b = documents()
    return b if current == a else a


def alternate_documents(path: str, ready: Connection) -> None:
    """Replace ``path`` by document A, B, A, ... until killed; signal after the first write."""
    update_text_locked(Path(path), _next_document)
    ready.send_bytes(READY)
    while True:
        update_text_locked(Path(path), _next_document)


def write_once(path: str) -> None:
    """One update of ``path`` (the next of the two documents)."""
    update_text_locked(Path(path), _next_document)


def add_keys(path: str, worker: str, cycles: int, go: Event) -> None:
    """Wait for ``go``, then add the keys ``{worker}-0`` ... to the JSON object in ``path``.

    One read-merge-write cycle per key, so that cycles of concurrent workers
    interleave.
    """
    if not go.wait(timeout=60):
        raise SystemExit("the go signal never came")
    for cycle in range(cycles):
        key = f"{worker}-{cycle}"

        def merge(current: str | None, key: str = key, cycle: int = cycle) -> str:
            document = json.loads(current) if current is not None else {}
            document[key] = cycle
            return json.dumps(document, sort_keys=True)

        update_text_locked(Path(path), merge)


def hold_lock(lock_path: str, ready: Connection) -> None:
    """Take ``lock_path`` the way update_text_locked does and keep it until killed."""
    with FileLock(lock_path):
        ready.send_bytes(READY)
        while True:
            time.sleep(60)


def update_unprivileged(path: str, report: Connection) -> None:
    """Try to update ``path``, as an unprivileged user when started as root.

    Sends ``(exception class name, is an OSError, message)`` or ``None`` on success.
    """
    if os.geteuid() == 0:
        # Root ignores file permissions; only an ordinary user sees an unwritable directory.
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)
    try:
        update_text_locked(Path(path), lambda current: "new\n", timeout_seconds=5)
    except BaseException as error:
        report.send((type(error).__name__, isinstance(error, OSError), str(error)))
    else:
        report.send(None)
