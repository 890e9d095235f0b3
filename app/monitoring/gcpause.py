"""Time every garbage collection (`gc.callbacks`): the loop is held for as long as one runs."""

from __future__ import annotations

import gc
import logging
import time
from typing import Any

from prometheus_client import Gauge, Histogram

log = logging.getLogger("insitechart.monitoring")
SLOW_PAUSE_S = 0.1  # a collection this long is logged, with its generation and what it freed
GC_PAUSE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
GENERATIONS = ("0", "1", "2")


class GcPauses:
    """Observe each collection's duration into `pauses` by generation, the longest in `longest`.

    Python calls the callbacks around every collection, automatic or explicit, on the thread that
    triggered it; with one event loop per worker that is the pause its tasks wait out.
    """

    def __init__(self, pauses: Histogram, longest: Gauge) -> None:
        self._pauses = [pauses.labels(generation) for generation in GENERATIONS]
        self._longest = [longest.labels(generation) for generation in GENERATIONS]
        self._maxima = [0.0, 0.0, 0.0]
        self._started = 0.0

    def install(self) -> None:
        if self._record not in gc.callbacks:
            gc.callbacks.append(self._record)

    def uninstall(self) -> None:
        if self._record in gc.callbacks:
            gc.callbacks.remove(self._record)

    def longest(self, generation: int) -> float:
        return self._maxima[generation]

    def _record(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        elapsed = time.perf_counter() - self._started
        generation = int(info["generation"])
        self._pauses[generation].observe(elapsed)
        if elapsed >= SLOW_PAUSE_S:
            log.warning(
                "garbage collection of generation %d held the loop %.0f ms (%s objects freed)",
                generation,
                elapsed * 1000,
                info.get("collected"),
            )
        if elapsed > self._maxima[generation]:
            self._maxima[generation] = elapsed
            self._longest[generation].set(elapsed)
