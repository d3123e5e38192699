"""The process's memory: how much is available (to size audio windows), giving freed memory
back to the operating system after a request, and keeping the loaded model's objects out of
the garbage collector's way.

glibc keeps freed memory in its arenas for reuse; after a long transcription that can be
hundreds of megabytes that the process holds while idle (issue 12 measured 1.37 GB left over).
`malloc_trim(0)` returns it. Elsewhere (musl, macOS) this does nothing, and
`WASYNC_MALLOC_TRIM=0` turns it off (the benchmark measures both ways).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
import os
from collections.abc import Callable
from pathlib import Path

from ..digits import whole_number


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        trim: Callable[[int], int] = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None
    return trim


def freeze_loaded_objects() -> None:
    """Collect once, then leave every object alive now out of later collections (`gc.freeze`).

    Called once the model has loaded: its objects live as long as the process, and each decode
    ends with a full collection (audio.py) that would otherwise walk them all, about 19 ms a
    request with CTranslate2's objects and 100 ms with torch's (docs/serving.md). Cycles of
    objects made after this are collected as before. An object alive now (besides the model,
    say an open connection) that later dies in a cycle is never freed: a one-off of a few KB."""
    gc.collect()
    gc.freeze()


def release_freed_memory() -> bool:
    """Return freed heap memory to the OS; False where the C library cannot."""
    trim = _malloc_trim()
    if trim is None or os.environ.get("WASYNC_MALLOC_TRIM", "1") == "0":
        return False
    trim(0)
    return True


def available_bytes() -> int | None:
    """Memory this process could still use: the kernel's MemAvailable, capped by a cgroup
    (container) limit when one is set. None where neither can be read."""
    figures = []
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                figures.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    for limit_file, usage_file in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),  # cgroup v2
        (
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",
            "/sys/fs/cgroup/memory/memory.usage_in_bytes",
        ),  # cgroup v1
    ):
        try:
            limit = Path(limit_file).read_text().strip()
            usage = int(Path(usage_file).read_text().strip())
        except (OSError, ValueError):
            continue
        most = whole_number(limit)
        if most is not None and most < 1 << 60:  # "max" or a huge number: no limit
            figures.append(max(0, most - usage))
    return min(figures) if figures else None
