"""Latency summaries: count, errors, req/s and percentiles of a list of samples in ms."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


def percentile(sorted_ms: Sequence[float], q: float) -> float:
    """The nearest-rank percentile `q` (0..100) of already sorted samples; 0.0 when empty."""
    if not sorted_ms:
        return 0.0
    rank = max(1, math.ceil(q / 100 * len(sorted_ms)))
    return sorted_ms[rank - 1]


@dataclass(slots=True)
class Samples:
    """Latencies (ms) and errors of one operation during one measured phase."""

    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str | None = None
    cache_hits: int = 0  # responses with `X-Cache: HIT` (the shared response cache)
    cache_misses: int = 0  # `X-Cache: MISS`; responses with neither were not cacheable

    def add(self, ms: float, error: str | None, cache: str | None = None) -> None:
        self.latencies_ms.append(ms)
        if cache == "HIT":
            self.cache_hits += 1
        elif cache == "MISS":
            self.cache_misses += 1
        if error is not None:
            self.errors += 1
            self.first_error = self.first_error or error[:300]

    def summary(self, elapsed_s: float) -> dict[str, Any]:
        ordered = sorted(self.latencies_ms)
        count = len(ordered)
        return {
            "requests": count,
            "errors": self.errors,
            "error_rate": round(self.errors / count, 4) if count else 0.0,
            "rps": round(count / elapsed_s, 1) if elapsed_s > 0 else 0.0,
            "p50_ms": round(percentile(ordered, 50), 1),
            "p95_ms": round(percentile(ordered, 95), 1),
            "p99_ms": round(percentile(ordered, 99), 1),
            "mean_ms": round(sum(ordered) / count, 1) if count else 0.0,
            "first_error": self.first_error,
            "cache_hits": self.cache_hits,
            "cache_misses": self.cache_misses,
            "cache_hit_ratio": hit_ratio(self.cache_hits, self.cache_misses),
        }


def hit_ratio(hits: int, misses: int) -> float | None:
    """hits / (hits + misses), or None when no response said either."""
    return round(hits / (hits + misses), 3) if hits + misses else None


def summarize(by_name: dict[str, Samples], elapsed_s: float) -> dict[str, Any]:
    """Per-operation summaries plus an `ALL` line over every request."""
    total = Samples()
    for samples in by_name.values():
        total.latencies_ms.extend(samples.latencies_ms)
        total.errors += samples.errors
        total.cache_hits += samples.cache_hits
        total.cache_misses += samples.cache_misses
        total.first_error = total.first_error or samples.first_error
    out = {name: s.summary(elapsed_s) for name, s in sorted(by_name.items())}
    out["ALL"] = total.summary(elapsed_s)
    return out
