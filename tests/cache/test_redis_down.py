"""Redis trouble never fails a request: the breaker sends reads to the database and logs once."""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import urlsplit

import redis.asyncio as redis

from app.cache.core import FLIGHT_LINGER_S
from app.config import Settings
from app.db import Database
from app.main import create_app
from tests.cache.conftest import cache_settings
from tests.cache.proxy import Relay, closed_port
from tests.conftest import graphql, serve
from tests.factories.universe import make_universe
from tests.sqlcount import count_statements


class Records(logging.Handler):
    """The app's logging does not propagate to pytest's capture: collect records here."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


async def test_requests_are_served_from_the_database_when_redis_is_unreachable(
    db: Database,
    settings: Settings,
    namespace: str,
    operations: dict[str, str],
) -> None:
    await make_universe(db, 4, 3)
    plain = cache_settings(settings, namespace, cache_enabled=False)
    async with serve(create_app(plain)) as client:
        expected = {name: await graphql(client, operations[name]) for name in ("StockList",)}
    app = create_app(
        cache_settings(settings, namespace, redis_url=f"redis://127.0.0.1:{closed_port()}/0")
    )
    records = Records()
    async with serve(app) as client:
        logging.getLogger("insitechart").addHandler(records)
        try:
            with count_statements() as log:
                bodies = [await graphql(client, operations["StockList"]) for _ in range(5)]
        finally:
            logging.getLogger("insitechart").removeHandler(records)
        breaker = app.state.resources.cache.backend.breaker
    assert all(body["data"] == expected["StockList"]["data"] for body in bodies)
    assert log.count >= 2  # the database answered (a load lingers 0.5 s for identical misses)
    assert breaker.opened == 1
    assert breaker.is_open
    assert breaker.failures == 1  # the open circuit skipped Redis: no timeout per request
    warnings = [r for r in records.records if r.levelno == logging.WARNING]
    # One line for the whole outage, from the worker's one Redis breaker (budget, cache, broker).
    assert len(warnings) == 1 and "reads from the database" in warnings[0].getMessage()


async def test_redis_killed_mid_run_loses_no_request_and_caching_resumes(
    db: Database,
    settings: Settings,
    namespace: str,
    redis_url: str,
    redis_client: redis.Redis,
    operations: dict[str, str],
) -> None:
    await make_universe(db, 3, 2)
    target = urlsplit(redis_url)
    relay = Relay(target.hostname or "127.0.0.1", target.port or 6379)
    await relay.start()
    relayed = f"{relay.url_prefix}{target.path}"
    app = create_app(
        cache_settings(settings, namespace, redis_url=relayed, cache_breaker_cooldown_s=0.2)
    )
    query = operations["StockList"]
    try:
        async with serve(app) as client:
            cache = app.state.resources.cache
            expected = await graphql(client, query)
            assert (await client.get("/readyz")).json()["cache"] == "up"

            await relay.stop()  # Redis dies mid-run
            during = [await graphql(client, query) for _ in range(5)]
            ready_during = await client.get("/readyz")
            assert cache.backend.breaker.is_open

            await relay.start()  # and comes back
            await asyncio.sleep(0.3)
            hits_before = cache.stats["Sentiment"].hits
            after = [await graphql(client, query) for _ in range(3)]
            ready_after = await client.get("/readyz")
    finally:
        await relay.stop()
    assert all(body["data"] == expected["data"] for body in [*during, *after])
    # Degraded, not down: the instance still serves, so it stays in the load balancer.
    assert ready_during.status_code == 200
    assert ready_during.json() == {
        "status": "degraded",
        "database": "up",
        "cache": "down",
        "redis": "down",
    }
    assert ready_after.status_code == 200
    assert not cache.backend.breaker.is_open
    assert cache.stats["Sentiment"].hits > hits_before  # reading from Redis again


async def test_a_slow_redis_opens_the_breaker_instead_of_slowing_every_request(
    db: Database,
    settings: Settings,
    namespace: str,
    redis_url: str,
    redis_client: redis.Redis,
    operations: dict[str, str],
) -> None:
    await make_universe(db, 3, 2)
    target = urlsplit(redis_url)
    relay = Relay(target.hostname or "127.0.0.1", target.port or 6379)
    await relay.start()
    relayed = f"{relay.url_prefix}{target.path}"
    app = create_app(
        cache_settings(settings, namespace, redis_url=relayed, cache_redis_timeout_ms=50)
    )
    query = operations["StockList"]
    try:
        async with serve(app) as client:
            expected = await graphql(client, query)
            relay.delay_s = 0.5  # every answer now takes ten times the timeout
            bodies = [await graphql(client, query) for _ in range(5)]
            breaker = app.state.resources.cache.backend.breaker
    finally:
        await relay.stop()
    assert all(body["data"] == expected["data"] for body in bodies)
    assert breaker.opened == 1
    assert breaker.failures == 1  # one timed-out call; the others skipped Redis


async def test_a_flushed_redis_is_refilled_from_the_database(
    db: Database,
    settings: Settings,
    namespace: str,
    redis_url: str,
    redis_client: redis.Redis,
    operations: dict[str, str],
) -> None:
    await make_universe(db, 3, 2)
    app = create_app(cache_settings(settings, namespace, redis_url=redis_url))
    query = operations["StockDetail"]
    async with serve(app) as client:
        expected = await graphql(client, query, {"symbol": "S001"})
        keys = [k async for k in redis_client.scan_iter(match=f"{namespace}:*", count=1000)]
        await redis_client.delete(*keys)  # everything of ours is gone, generations included
        await asyncio.sleep(FLIGHT_LINGER_S + 0.1)  # past the in-process share of recent loads
        with count_statements() as refill:
            refilled = await graphql(client, query, {"symbol": "S001"})
        with count_statements() as warm:
            again = await graphql(client, query, {"symbol": "S001"})
    assert keys
    assert refilled["data"] == expected["data"] == again["data"]
    assert refill.count == 4
    assert warm.count == 0
