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


class Generations:
    """The generations of the collections run while it is open (a `gc.callbacks` entry)."""

    def __init__(self) -> None:
        self.seen: list[int] = []

    def __enter__(self) -> list[int]:
        gc.callbacks.append(self._record)
        return self.seen

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._record)

    def _record(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self.seen.append(info["generation"])


def upkeep_monitor(
    settings: Settings, db: Database, growth_pct: float, forced_pct: float = 0.0
) -> Monitor:
    tuned = settings.model_copy(
        update={
            "memory_full_gc_growth_pct": growth_pct,
            "memory_full_gc_forced_pct": forced_pct,
            "memory_full_gc_idle_s": 0.3,
        }
    )
    monitor = Monitor(tuned, db)
    heap.trim()  # what earlier tests freed is not given back during the test, shrinking RSS
    assert monitor.growth_since_full_pct() is None  # the first look only sets the reference
    return monitor


GROWN = 64 * 2**20


def grow() -> bytearray:
    """64 MiB, every page written: RSS grows by that much whatever the allocator kept."""
    return bytearray(b"x") * GROWN


async def busy(until: asyncio.Event) -> None:
    """Serve something all the time: the loop is never idle while it runs."""
    while not until.is_set():
        sum(range(20_000))
        await asyncio.sleep(0)


async def upkeep_while_busy(monitor: Monitor) -> list[int]:
    """Run one upkeep pass while a task keeps the worker busy; the generations it collected."""
    done = asyncio.Event()
    worker = asyncio.create_task(busy(done))
    try:
        with Generations() as generations:
            await monitor.upkeep()
    finally:
        done.set()
        await worker
    return generations


async def test_the_upkeep_never_collects_fully_while_the_worker_is_busy(
    db: Database, settings: Settings
) -> None:
    monitor = upkeep_monitor(settings, db, growth_pct=0.0)
    grown = grow()  # memory asks for a full pass
    generations = await upkeep_while_busy(monitor)
    assert len(grown) == GROWN
    assert 2 not in generations  # no pause proportional to the heap while anything is served


async def test_a_busy_worker_whose_memory_grew_past_the_forced_limit_collects_fully(
    db: Database, settings: Settings
) -> None:
    monitor = upkeep_monitor(settings, db, growth_pct=0.0, forced_pct=0.001)
    grown = grow()
    generations = await upkeep_while_busy(monitor)
    assert len(grown) == GROWN
    assert 2 in generations  # bounded memory comes before short pauses


async def test_an_idle_worker_runs_the_full_collection_memory_grew_for(
    db: Database, settings: Settings
) -> None:
    monitor = upkeep_monitor(settings, db, growth_pct=0.0)
    grown = grow()
    with Generations() as generations:
        await monitor.upkeep()
    assert len(grown) == GROWN
    assert 2 in generations


async def test_an_idle_worker_skips_the_full_collection_while_memory_is_flat(
    db: Database, settings: Settings
) -> None:
    monitor = upkeep_monitor(settings, db, growth_pct=1000.0)
    with Generations() as generations:
        await monitor.upkeep()
    assert 2 not in generations


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
