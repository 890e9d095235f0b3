"""The heap trimmer: free pages go back to the system, on a schedule the lifespan keeps."""

from __future__ import annotations

import asyncio
import gc
import weakref

import psutil
import pytest

from app.config import Settings
from app.db import Database
from app.main import create_app
from app.monitoring import heap
from app.monitoring.monitor import Monitor
from tests.conftest import serve
from tests.factories.stocks import make_stock
from tests.liveserver import live_server, subscribe, wait_for, ws_client
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


async def test_the_upkeep_runs_a_full_collection_only_when_memory_grew(
    db: Database, settings: Settings
) -> None:
    monitor = Monitor(settings.model_copy(update={"memory_full_gc_growth_pct": 5.0}), db)
    generations: list[int] = []

    def record(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            generations.append(info["generation"])

    gc.callbacks.append(record)
    try:
        monitor.trim_heap()  # the first one sets the reference point
        first = list(generations)
        generations.clear()
        monitor.trim_heap()
        steady = list(generations)
        generations.clear()
        grown = [bytearray(1024) for _ in range(psutil.Process().memory_info().rss // 8192)]
        monitor.trim_heap()
        after_growth = list(generations)
    finally:
        gc.callbacks.remove(record)
    assert len(grown) > 0
    assert first == [1]  # the reference point costs no full pass either
    assert steady == [1]  # young generations only: no pause proportional to the whole heap
    assert 2 in after_growth


async def test_a_closed_subscription_is_freed_by_refcounting_without_a_collection(
    db: Database, settings: Settings, operations: dict[str, str]
) -> None:
    async with db.sessionmaker.begin() as session:
        await make_stock(session, "AAPL")
    quiet = settings.model_copy(update={"memory_trim_interval_s": 0})
    async with live_server(quiet) as server:
        multiplexer = server.app.state.multiplexer
        gc.collect()
        gc.disable()
        try:
            async with ws_client(server) as ws:
                await subscribe(ws, "m", operations["LiveMentions"], {"symbols": ["AAPL"]})
                await wait_for(lambda: bool(multiplexer.feeds))
                (feed,) = multiplexer.feeds.values()
                relay = server.resources.relay
                # Waiting for events, not cancelled inside a SQL statement (whose cycles through
                # SQLAlchemy's exception handling are not this test's subject).
                await wait_for(lambda: relay is not None and relay.upto is not None)
                freed = weakref.ref(feed)
                del feed
            await wait_for(lambda: not server.resources.broker.subscribers.get("mention:AAPL"))
            await asyncio.sleep(0.1)
            alive = freed() is not None
        finally:
            gc.enable()
    assert not alive  # the feed, its task and its execution went with the last reference
