"""Windowed request and cache statistics for the admin view and the alerts."""

from __future__ import annotations

import math
import time
from array import array
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class OperationStats:
    operation: str
    count: int
    mean_s: float
    max_s: float


@dataclass(frozen=True, slots=True)
class WindowStats:
    window_s: float
    requests: int
    errors: int
    p50_s: float
    p95_s: float
    p99_s: float
    slowest: list[OperationStats]

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    @property
    def request_rate(self) -> float:
        return self.requests / self.window_s


def percentile(ordered: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list; 0 for an empty one."""
    if not ordered:
        return 0.0
    rank = max(math.ceil(fraction * len(ordered)), 1)
    return ordered[rank - 1]


MAX_NAMES = 65_536  # operation ids are unsigned 16-bit
OVERFLOW_NAME = "other"


class RequestWindow:
    """The operations of the last `window_s` seconds, at most `capacity` of them.

    A ring of fixed arrays allocated once (19 bytes per request: start, duration, operation,
    failed), so the window costs the same memory on its first request as on its millionth;
    tuples of Python objects cost ~130 bytes each and grew the worker by several MB while the
    window filled. Operation names are kept once each in a table; the callers bound them
    (`Metrics.operation_label`), and the table is cleared of names no longer in the ring when
    it grows past `max_names`.
    """

    def __init__(
        self, window_s: float, capacity: int, clock: Clock = time.monotonic, max_names: int = 1024
    ) -> None:
        self.window_s = window_s
        self.clock = clock
        self.capacity = capacity
        self.max_names = max_names
        self._at = array("d", bytes(8 * capacity))
        self._duration = array("d", bytes(8 * capacity))
        self._operation = array("H", bytes(2 * capacity))
        self._failed = array("b", bytes(capacity))
        self._names: list[str] = [OVERFLOW_NAME]
        self._ids: dict[str, int] = {OVERFLOW_NAME: 0}
        self._compact_at = max_names
        self._next = 0  # the slot the next request goes to
        self._count = 0  # slots in use, the oldest at (_next - _count) % capacity

    def _name_id(self, operation: str) -> int:
        found = self._ids.get(operation)
        if found is not None:
            return found
        if len(self._names) >= self._compact_at:
            self._compact_names()
            # Compact again only once the table has doubled: never once per new name.
            self._compact_at = max(self.max_names, 2 * len(self._names))
        if len(self._names) >= MAX_NAMES:  # 65,536 distinct names in the ring at once
            return self._ids[OVERFLOW_NAME]
        self._ids[operation] = len(self._names)
        self._names.append(operation)
        return len(self._names) - 1

    def _compact_names(self) -> None:
        """Renumber the names still in the ring; forget the others."""
        used = sorted({0} | {self._operation[slot] for slot in self._slots()})
        renumber = {old: new for new, old in enumerate(used)}
        self._names = [self._names[old] for old in used]
        self._ids = {name: index for index, name in enumerate(self._names)}
        for slot in self._slots():
            self._operation[slot] = renumber[self._operation[slot]]

    def _slots(self) -> range | list[int]:
        first = (self._next - self._count) % self.capacity
        if first + self._count <= self.capacity:
            return range(first, first + self._count)
        return [*range(first, self.capacity), *range(0, self._next)]

    def record(self, operation: str, duration_s: float, failed: bool) -> None:
        slot = self._next
        self._at[slot] = self.clock()
        self._duration[slot] = duration_s
        self._operation[slot] = self._name_id(operation)
        self._failed[slot] = failed
        self._next = (slot + 1) % self.capacity
        self._count = min(self._count + 1, self.capacity)

    def _prune(self) -> None:
        horizon = self.clock() - self.window_s
        while self._count and self._at[(self._next - self._count) % self.capacity] < horizon:
            self._count -= 1

    def stats(self, slowest: int = 5) -> WindowStats:
        self._prune()
        slots = self._slots()
        durations = sorted(self._duration[slot] for slot in slots)
        per_operation: dict[int, list[float]] = defaultdict(list)
        for slot in slots:
            per_operation[self._operation[slot]].append(self._duration[slot])
        operations = [
            OperationStats(self._names[index], len(values), sum(values) / len(values), max(values))
            for index, values in per_operation.items()
        ]
        operations.sort(key=lambda o: o.max_s, reverse=True)
        return WindowStats(
            window_s=self.window_s,
            requests=len(durations),
            errors=sum(self._failed[slot] for slot in slots),
            p50_s=percentile(durations, 0.50),
            p95_s=percentile(durations, 0.95),
            p99_s=percentile(durations, 0.99),
            slowest=operations[:slowest],
        )


@dataclass(frozen=True, slots=True)
class CacheRatio:
    type: str
    hits: int
    misses: int

    @property
    def hit_ratio(self) -> float:
        total = self.hits + self.misses
        return self.hits / total if total else 0.0


class CacheWindow:
    """Cache hits and misses per type over the window, counted per second."""

    def __init__(self, window_s: float, clock: Clock = time.monotonic) -> None:
        self.window_s = window_s
        self.clock = clock
        self._seconds: deque[tuple[int, dict[str, list[int]]]] = deque()

    def record(self, kind: str, hit: bool, count: int = 1) -> None:
        second = int(self.clock())
        if not self._seconds or self._seconds[-1][0] != second:
            self._prune()
            self._seconds.append((second, {}))
        counts = self._seconds[-1][1].setdefault(kind, [0, 0])
        counts[0 if hit else 1] += count

    def _prune(self) -> None:
        horizon = self.clock() - self.window_s
        # A second's counts leave the window once the whole second has.
        while self._seconds and self._seconds[0][0] + 1 <= horizon:
            self._seconds.popleft()

    def ratios(self) -> list[CacheRatio]:
        self._prune()
        totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for _, kinds in self._seconds:
            for kind, (hits, misses) in kinds.items():
                totals[kind][0] += hits
                totals[kind][1] += misses
        return [CacheRatio(kind, hits, misses) for kind, (hits, misses) in sorted(totals.items())]
