"""The heap trimmer: free pages go back to the system, on a schedule the lifespan keeps."""

from __future__ import annotations

import asyncio

import psutil
import pytest

from app.config import Settings
from app.db import Database
from app.main import create_app
from app.monitoring import heap
from tests.conftest import serve
from tests.monitoring.test_metrics import scrape

needs_malloc_trim = pytest.mark.skipif(not heap.available(), reason="no malloc_trim in this libc")


@needs_malloc_trim
def test_trimming_returns_freed_chunks_pinned_below_live_ones() -> None:
    process = psutil.Process()
    # 20 KiB chunks come from the C heap (not pymalloc); a small survivor after each keeps the
    # heap's top from shrinking by itself once the big ones are freed, as a burst of
    # connections interleaved with long-lived allocations does.
    chunks, survivors = [], []
    for _ in range(5000):
        chunks.append(bytearray(20 * 1024))
        survivors.append(bytearray(1024))
    del chunks
    before = process.memory_info().rss
    done = heap.trim()
    after = process.memory_info().rss
    assert done is not None and done.released and done.seconds >= 0
    assert before - after > 50 * 2**20, (before, after)  # of the ~100 MB freed
    assert len(survivors) == 5000


async def test_the_lifespan_trims_on_its_interval_and_counts_it(
    db: Database, settings: Settings
) -> None:
    app = create_app(settings.model_copy(update={"memory_trim_interval_s": 0.05}))
    async with serve(app) as client:
        await asyncio.sleep(0.3)
        found = await scrape(client)
    assert found[("insitechart_heap_trim_seconds_count", ())] >= 2


async def test_an_interval_of_zero_never_trims(db: Database, settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"memory_trim_interval_s": 0}))
    async with serve(app) as client:
        await asyncio.sleep(0.2)
        found = await scrape(client)
    assert found.get(("insitechart_heap_trim_seconds_count", ()), 0) == 0
