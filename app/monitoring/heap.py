"""Give the C heap's free pages back to the operating system (glibc's `malloc_trim`).

glibc keeps the chunks a process frees for reuse, and a long-lived allocation above them keeps the
heap from shrinking, so memory freed after a burst (thousands of WebSocket connections closing,
a full garbage collection) stays in the RSS. `malloc_trim(0)` releases every free page of the
heap, wherever it lies (`MADV_DONTNEED`). The monitor calls it every `MEMORY_TRIM_INTERVAL_S`
seconds, right after a full collection; on a libc without it (musl, macOS) it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger("insitechart.monitoring")


def _find_malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
    except OSError:
        return None
    trim = getattr(libc, "malloc_trim", None)
    if trim is None:
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim  # type: ignore[no-any-return]


_MALLOC_TRIM = _find_malloc_trim()


@dataclass(frozen=True, slots=True)
class Trim:
    released: bool  # malloc_trim's answer: whether any memory went back to the system
    seconds: float


def available() -> bool:
    return _MALLOC_TRIM is not None


def trim() -> Trim | None:
    """Release the heap's free pages now; None where the C library cannot."""
    if _MALLOC_TRIM is None:
        return None
    started = time.perf_counter()
    released = bool(_MALLOC_TRIM(0))
    elapsed = time.perf_counter() - started
    log.debug("malloc_trim released=%s in %.1f ms", released, elapsed * 1000)
    return Trim(released, elapsed)
