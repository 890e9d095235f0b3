"""Windowed request and cache statistics for the admin view and the alerts."""

from __future__ import annotations

import math
import sys
import time
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


class RequestWindow:
    """The operations of the last `window_s` seconds, at most `capacity` of them."""

    def __init__(self, window_s: float, capacity: int, clock: Clock = time.monotonic) -> None:
        self.window_s = window_s
        self.clock = clock
        self._requests: deque[tuple[float, str, float, bool]] = deque(maxlen=capacity)

    def record(self, operation: str, duration_s: float, failed: bool) -> None:
        # Interned: names decoded per request (a response-cache hit's) would each keep a copy.
        self._requests.append((self.clock(), sys.intern(operation), duration_s, failed))

    def _prune(self) -> None:
        horizon = self.clock() - self.window_s
        while self._requests and self._requests[0][0] < horizon:
            self._requests.popleft()

    def stats(self, slowest: int = 5) -> WindowStats:
        self._prune()
        durations = sorted(r[2] for r in self._requests)
        per_operation: dict[str, list[float]] = defaultdict(list)
        for _, operation, duration, _failed in self._requests:
            per_operation[operation].append(duration)
        operations = [
            OperationStats(name, len(values), sum(values) / len(values), max(values))
            for name, values in per_operation.items()
        ]
        operations.sort(key=lambda o: o.max_s, reverse=True)
        return WindowStats(
            window_s=self.window_s,
            requests=len(durations),
            errors=sum(1 for r in self._requests if r[3]),
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
