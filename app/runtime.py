"""Process-wide runtime tuning applied for the life of the app (garbage collector thresholds)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

from app.config import Settings

# Python runs a full collection after this many collections of the middle generation (and when
# a quarter of the heap is new); no worker makes that many, so only the memory upkeep runs one.
NO_AUTOMATIC_FULL = 2**30


@contextmanager
def tuned_gc(settings: Settings) -> Iterator[None]:
    """Collect the youngest generation less often, never the oldest on Python's own schedule,
    and leave start-up objects out of collections.

    With thousands of WebSocket connections, the heap is large and every collection walks much
    of it: at 5,000 subscribers, Python's default threshold (700) tripled the p99 delivery time
    (bench/realtime_bench.py), and an automatic full collection holds the loop for hundreds of
    milliseconds at 10,000 (`insitechart_gc_pause_seconds`). Young collections still free
    short-lived cycles; a closed connection is freed by refcounting (app/http/connections.py), and
    the memory upkeep runs a full collection when the worker is idle (app/monitoring/monitor.py).
    """
    if settings.gc_gen0_threshold == 0:
        yield
        return
    previous = gc.get_threshold()
    gc.set_threshold(settings.gc_gen0_threshold, settings.gc_gen1_threshold, NO_AUTOMATIC_FULL)
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*previous)
