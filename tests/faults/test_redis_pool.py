"""One bounded Redis pool per worker, shared by cache, budgets, persisted queries and broker."""

from __future__ import annotations

import asyncio

import redis.asyncio as redis

from app.config import Settings
from app.db import Database
from app.main import create_app
from app.resources import Resources
from tests.conftest import serve
from tests.factories.stocks import make_stock
from tests.faults.services import RedisServer
from tests.liveserver import live_server, subscribe, ws_client

ONE_STOCK = '{ stock(symbol: "AAPL") { symbol } }'


def pooled(settings: Settings, url: str) -> Settings:
    return settings.model_copy(
        update={
            "redis_url": url,
            "cache_redis_max_connections": 4,
            "cache_warm_on_start": False,
            "cache_warm_interval_s": 0,
        }
    )


async def clients_connected(url: str) -> int:
    admin = redis.Redis.from_url(url)
    try:
        return len(await admin.client_list()) - 1  # not this one
    finally:
        await admin.aclose()


async def test_every_redis_use_of_a_worker_shares_one_bounded_pool(
    db: Database, settings: Settings, operations: dict[str, str], private_redis: RedisServer
) -> None:
    async with db.sessionmaker.begin() as session:
        await make_stock(session, "AAPL")
    app = create_app(pooled(settings, private_redis.url))
    async with serve(app) as client:
        resources: Resources = app.state.resources
        assert resources.redis is not None
        shared = resources.redis.client
        assert resources.cache is not None
        assert resources.cache.backend.client is shared  # type: ignore[attr-defined]
        assert resources.buckets.shared.client is shared  # type: ignore[attr-defined]
        assert resources.broker.backend.shared.client is shared  # type: ignore[attr-defined]
        answers = await asyncio.gather(
            *(client.post("/graphql", json={"query": ONE_STOCK}) for _ in range(60))
        )
        connected = await clients_connected(private_redis.url)
    assert all(a.status_code == 200 and "errors" not in a.json() for a in answers)
    assert 1 <= connected <= 4


async def test_many_subscriptions_on_one_socket_hold_no_more_connections_than_the_pool(
    db: Database, settings: Settings, operations: dict[str, str], private_redis: RedisServer
) -> None:
    async with db.sessionmaker.begin() as session:
        await make_stock(session, "AAPL")
    async with (
        live_server(pooled(settings, private_redis.url)) as server,
        ws_client(server) as ws,
    ):
        for i in range(60):
            await subscribe(ws, f"s{i}", operations["LiveSentiment"], {"symbols": ["AAPL"]})
        await asyncio.sleep(0.5)
        connected = await clients_connected(private_redis.url)
    assert 1 <= connected <= 4
