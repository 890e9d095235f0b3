"""Concurrent misses for one key run one database load, in one process and across two."""

from __future__ import annotations

import asyncio

import redis.asyncio as redis

from app.cache import build_cache
from app.config import Settings
from app.db import Database
from app.timeutil import utcnow
from loaders import LoaderEnv, Loaders
from tests.cache.conftest import cache_settings
from tests.factories.universe import make_universe
from tests.sqlcount import count_statements


async def test_a_hundred_concurrent_misses_run_one_load(
    db: Database, cached_settings: Settings
) -> None:
    (stock_id,) = await make_universe(db, 1, 3)
    cache = build_cache(cached_settings)
    now = utcnow()
    try:
        requests = [Loaders.build(LoaderEnv(db=db, now=now, cache=cache)) for _ in range(100)]
        with count_statements() as log:
            rows = await asyncio.gather(*(r.sentiment.load(stock_id) for r in requests))
    finally:
        await cache.close()
    assert log.count == 1
    assert {row.mention_count for row in rows if row is not None} == {3}
    assert len(rows) == 100


async def test_concurrent_misses_in_two_processes_run_one_load(
    db: Database,
    settings: Settings,
    namespace: str,
    redis_url: str,
    redis_client: redis.Redis,
) -> None:
    (stock_id,) = await make_universe(db, 1, 2)
    # Generous timeouts: this is about leases, not about a loaded host making Redis look down.
    shared = cache_settings(
        settings,
        namespace,
        redis_url=redis_url,
        cache_lease_wait_ms=3000,
        cache_redis_timeout_ms=3000,
    )
    first, second = build_cache(shared), build_cache(shared)  # two workers' caches
    now = utcnow()
    try:
        requests = [
            Loaders.build(LoaderEnv(db=db, now=now, cache=cache))
            for cache in (first, second)
            for _ in range(50)
        ]
        with count_statements() as log:
            rows = await asyncio.gather(*(r.sentiment.load(stock_id) for r in requests))
    finally:
        await first.close()
        await second.close()
    assert log.count == 1
    assert {row.mention_count for row in rows if row is not None} == {2}
