"""Process-wide runtime tuning applied for the life of the app (garbage collector thresholds)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

from app.config import Settings


@contextmanager
def tuned_gc(settings: Settings) -> Iterator[None]:
    """Collect the youngest generation less often, and leave start-up objects out of collections.

    With thousands of WebSocket connections, the heap is large and every collection walks much
    of it: at 5,000 subscribers, Python's default threshold (700) tripled the p99 delivery time
    (bench/realtime_bench.py). Collection still runs, so cycles are still freed.
    """
    if settings.gc_gen0_threshold == 0:
        yield
        return
    previous = gc.get_threshold()
    gc.set_threshold(settings.gc_gen0_threshold, *previous[1:])
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*previous)
