"""The number of CPU cores this process may run on now (its affinity, where the OS has one)."""

from __future__ import annotations

import os


def usable() -> int:
    """Cores in this process's affinity mask, else all the machine's (at least 1)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # no affinity on macOS and Windows
        return os.cpu_count() or 1
