"""Near hits (app/http/near_hits.py) on a private Redis that is killed, frozen and flushed: the
worker keeps nothing while Redis cannot tell it what changed, and starts empty when it can."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import redis.asyncio as redis
from fastapi import FastAPI

from app.config import Settings
from app.db import Database
from app.main import create_app
from tests.cache.conftest import caught_up
from tests.conftest import serve
from tests.factories.universe import make_universe
from tests.faults.services import RedisServer

QUERY = "query { stocks(first: 3) { nodes { symbol name } } }"


def near_settings(settings: Settings, url: str) -> Settings:
    values: dict[str, Any] = {
        "redis_url": url,
        "cache_response_enabled": True,
        "cache_warm_on_start": False,
        "cache_warm_interval_s": 0,
        "cache_redis_timeout_ms": 300,
        "cache_breaker_cooldown_s": 0.5,
    }
    return settings.model_copy(update=values)


async def post(client: httpx.AsyncClient) -> httpx.Response:
    return await client.post("/graphql", json={"query": QUERY})


async def until(condition: Any, timeout_s: float, what: str) -> float:
    """Seconds until `condition()` holds; fails after `timeout_s`."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout_s, f"{what}: not within {timeout_s} s"
        await asyncio.sleep(0.01)
    return time.monotonic() - started


async def kept_hit(app: FastAPI, client: httpx.AsyncClient) -> Any:
    """Serve QUERY until this worker keeps it; its NearHits."""
    near = app.state.resources.near
    await caught_up(app)
    await post(client)
    await caught_up(app)  # the miss's write has reached the worker: its push is behind it
    assert (await post(client)).headers["x-cache"] == "HIT"
    assert len(near) == 1
    return near


async def test_a_killed_redis_empties_the_workers_copies_and_a_new_one_starts_empty(
    db: Database, settings: Settings, private_redis: RedisServer
) -> None:
    await make_universe(db, 3, 1)
    app = create_app(near_settings(settings, private_redis.url))
    async with serve(app) as client:
        near = await kept_hit(app, client)
        private_redis.kill()
        await until(lambda: not near.live and len(near) == 0, 3, "tracking lost")
        down = await post(client)  # executed: nothing kept is served without Redis
        await private_redis.start()  # a new, empty Redis on the same port
        await until(lambda: near.live, 10, "tracking again")
        assert len(near) == 0
        answer = await post(client)
        while answer.headers.get("x-cache") != "MISS":  # the breaker closes after its cooldown
            await asyncio.sleep(0.1)
            answer = await post(client)
        await caught_up(app)
        again = [(await post(client)).headers["x-cache"] for _ in range(2)]
        assert len(near) == 1
    assert down.status_code == 200 and down.headers.get("x-cache") != "HIT"
    assert again == ["HIT", "HIT"]


async def test_a_frozen_redis_is_noticed_by_its_silence(
    db: Database, settings: Settings, private_redis: RedisServer
) -> None:
    await make_universe(db, 3, 1)
    app = create_app(near_settings(settings, private_redis.url))
    async with serve(app) as client:
        near = await kept_hit(app, client)
        private_redis.freeze()
        try:
            # A PING a second, unanswered for another: off within about two seconds.
            waited = await until(lambda: not near.live, 4, "silence noticed")
            assert len(near) == 0
        finally:
            private_redis.thaw()
        await until(lambda: near.live, 10, "tracking again")
    assert waited < 3.5


async def test_flushdb_empties_the_workers_copies(
    db: Database, settings: Settings, private_redis: RedisServer
) -> None:
    await make_universe(db, 3, 1)
    app = create_app(near_settings(settings, private_redis.url))
    async with serve(app) as client:
        near = await kept_hit(app, client)
        other = redis.Redis.from_url(private_redis.url)
        try:
            await other.flushdb()
        finally:
            await other.aclose()
        await until(lambda: len(near) == 0, 2, "FLUSHDB pushed")
        assert near.live
        assert (await post(client)).headers["x-cache"] == "MISS"
