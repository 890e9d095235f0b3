"""The request window: a fixed ring, pruned by time, capped in size, flat in memory."""

from __future__ import annotations

import tracemalloc

import pytest

from app.monitoring.stats import RequestWindow
from tests.clock import Clock


def test_stats_cover_the_requests_of_the_window_only() -> None:
    clock = Clock()
    window = RequestWindow(window_s=60.0, capacity=100, clock=clock)
    window.record("Old", 9.0, True)
    clock.now += 61
    for ms in range(1, 21):
        window.record("StockDetail" if ms % 2 else "Trending", ms / 1000, ms == 20)
    stats = window.stats()
    assert (stats.requests, stats.errors) == (20, 1)  # "Old" left the window
    assert (stats.p50_s, stats.p95_s, stats.p99_s) == (0.010, 0.019, 0.020)
    slowest = {o.operation: (o.count, o.max_s) for o in stats.slowest}
    assert slowest == {"Trending": (10, 0.020), "StockDetail": (10, 0.019)}
    assert stats.slowest[0].mean_s == pytest.approx(0.011)
    clock.now += 61
    assert window.stats().requests == 0


def test_a_full_ring_keeps_the_latest_requests() -> None:
    window = RequestWindow(window_s=60.0, capacity=5, clock=Clock())
    for i in range(12):
        window.record(f"Op{i}", i / 1000, False)
    stats = window.stats(slowest=10)
    assert stats.requests == 5
    assert sorted(o.operation for o in stats.slowest) == ["Op10", "Op11", "Op7", "Op8", "Op9"]


def test_recording_allocates_nothing_once_built() -> None:
    window = RequestWindow(window_s=300.0, capacity=50_000)
    names = [f"Operation{i}" for i in range(20)]
    for name in names:  # the names' table entries
        window.record(name, 0.001, False)
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        for i in range(60_000):  # more than the capacity: the ring wraps
            window.record(names[i % 20], i / 1e6, i % 7 == 0)
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    assert grown < 4096, grown  # bytes: nothing per request (the old tuples took ~6 MB here)
    assert window.stats().requests == 50_000


def test_names_no_longer_in_the_ring_are_forgotten_when_the_table_is_full() -> None:
    window = RequestWindow(window_s=60.0, capacity=4, clock=Clock(), max_names=8)
    for i in range(100):
        window.record(f"Op{i}", 0.001, False)
    assert len(window._names) <= 16  # compacted, not one entry per name ever seen
    assert sorted(o.operation for o in window.stats().slowest) == ["Op96", "Op97", "Op98", "Op99"]
