"""Atomic file writes: a reader sees the old file or the new one, never half of one.

Used for the baseline files and the results JSON. ``write_text_atomically``
replaces a file; ``update_text_locked`` reads, changes and replaces it under an
inter-process lock, so that two processes updating one file at once both keep
their changes.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import stat
import sys
from collections.abc import Callable
from pathlib import Path


def write_text_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same directory.

    The temporary file, ``.{name}.{pid}.{token}.tmp``, is flushed and fsynced,
    then renamed over ``path`` with ``os.replace``: a crash leaves either the
    old or the new file, and the temporary file is removed on failure. An
    existing file's permissions are kept.

    This does not lock: two processes that read, change and write one file
    must use ``update_text_locked``.

    Raises:
        OSError: the directory or file could not be written; ``path`` is unchanged.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = stat.S_IMODE(path.stat().st_mode) if path.exists() else None
    # The pid in the name lets a later update tell a killed writer's file from a live one's.
    temporary = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    # O_EXCL: never follow or reuse someone else's file; 0o666 lets the umask decide.
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    _fsync_directory(path.parent)


def update_text_locked(
    path: Path,
    update: Callable[[str | None], str],
    *,
    timeout_seconds: float = 120.0,
) -> str:
    """Replace the text of ``path`` with ``update(current text)``, holding a lock.

    Takes an exclusive inter-process lock on the sibling file
    ``.{name}.lock``, reads ``path`` (``None`` if it does not exist), calls
    ``update`` with that text, removes temporary files that killed writers of
    ``path`` left behind, writes the new text with ``write_text_atomically``
    and releases the lock. Every process that updates ``path`` this way sees
    the changes of the ones before it.

    The lock file stays in place after the update (see the comment in the
    code); it is empty and git-ignored.

    Args:
        path: the file to update; its directory is created if missing.
        update: computes the new text from the current one, or None for a
            missing file. If it raises, nothing is written and the exception
            propagates. It must not update ``path`` itself: it would wait for
            the lock this call holds.
        timeout_seconds: how long to wait for another process's lock; 0 tries
            once, a negative value waits without limit.

    Returns:
        The text written.

    Raises:
        TimeoutError: the lock was not free within ``timeout_seconds``;
            ``path`` is unchanged.
        OSError: the directory or file could not be written or read; ``path``
            is unchanged.
    """
    # Imported here: modules that only write (the results file) load this one too, and
    # importing filelock costs more than the rest of it.
    from filelock import FileLock, Timeout

    path.parent.mkdir(parents=True, exist_ok=True)
    lock_path = _lock_path(path)
    # The lock file is not removed on release, which is filelock's behaviour on POSIX too:
    # a process waiting on it holds it open, and if it were unlinked, that process would
    # lock the removed file while a newcomer created and locked a new one: two writers at
    # once. An empty, git-ignored file beside the target is the cheaper cost.
    lock = FileLock(lock_path, timeout=timeout_seconds)
    try:
        lock.acquire()
    except Timeout as error:
        raise TimeoutError(_timeout_message(path, lock_path, timeout_seconds)) from error
    try:
        # Read under the lock: a text read before it may already have been replaced.
        try:
            current: str | None = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            current = None
        text = update(current)
        _remove_stale_temporaries(path)
        write_text_atomically(path, text)
    finally:
        lock.release()
    return text


def _lock_path(path: Path) -> Path:
    return path.parent / f".{path.name}.lock"


def _timeout_message(path: Path, lock_path: Path, timeout_seconds: float) -> str:
    return (
        f"Could not update {path}: waited {timeout_seconds:g} seconds for the lock {lock_path}, "
        "which another pytest-cnnperf process holds while it updates that file. Let that "
        f"process finish and run again; if no pytest-cnnperf process is running, remove "
        f"{lock_path} and run again."
    )


def _remove_stale_temporaries(path: Path) -> None:
    """Remove the temporary files of ``path`` whose writer process has died.

    Only a writer killed between creating its temporary file and renaming it
    leaves one. Called under the lock, so no locked writer of ``path`` is
    between those steps; a live unlocked writer's file is kept by the pid test.
    """
    pattern = re.compile(rf"\.{re.escape(path.name)}\.([0-9]+)\.[0-9a-f]+\.tmp")
    with contextlib.suppress(OSError), os.scandir(path.parent) as entries:
        for entry in entries:
            match = pattern.fullmatch(entry.name)
            if match is None or _writer_is_alive(int(match.group(1))):
                continue
            # Best effort: a file that cannot be removed must not fail the update.
            with contextlib.suppress(OSError):
                os.unlink(entry.path)


def _writer_is_alive(pid: int) -> bool:
    """Whether process ``pid`` may still be writing; True whenever unsure."""
    # On Windows os.kill(pid, 0) terminates the process instead of probing it.
    if sys.platform == "win32" or pid <= 0:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError):
        # PermissionError: the process exists under another user.
        return True
    return True


def _fsync_directory(directory: Path) -> None:
    # Makes the rename itself durable; not every platform can open a directory.
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
