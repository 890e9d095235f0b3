"""A Redis Cluster master killed under an app: the breaker opens, PostgreSQL answers, no 5xx."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.config import Settings
from app.db import Database
from app.main import create_app
from app.realtime.broker import Broker, Message, RedisBackend, Subscriber
from app.redis_shared import SharedRedis, connect
from app.resources import Resources
from bench.rediscluster import RedisCluster
from tests.cluster.conftest import require_redis_binaries
from tests.conftest import RUN_PREFIX, serve
from tests.factories.universe import make_universe
from tests.liveserver import wait_for

READS: list[tuple[str, dict[str, Any]]] = [
    ("StockList", {"first": 3}),
    ("StockDetail", {"symbol": "S001"}),
    ("Trending", {}),
    ("MentionFeed", {}),
    ("PartnerScores", {"symbols": ["S000", "S002"]}),
]


async def answers(client: httpx.AsyncClient, operations: dict[str, str]) -> list[Any]:
    """Each reference read once: (status, data, error codes)."""
    out = []
    for name, variables in READS:
        response = await client.post(
            "/graphql", json={"query": operations[name], "variables": variables}
        )
        body = response.json()
        codes = [e.get("extensions", {}).get("code") for e in body.get("errors", [])]
        out.append((name, response.status_code, body.get("data"), codes))
    return out


async def test_a_killed_master_leaves_every_reference_read_answered_from_postgresql(
    db: Database,
    settings: Settings,
    backend: str,
    operations: dict[str, str],
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    if backend != "postgres":
        pytest.skip("the degraded path is PostgreSQL's")
    require_redis_binaries(request)
    await make_universe(db, 4, 3)
    cluster = RedisCluster(tmp_path)
    cluster.start()
    try:
        update = {"redis_url": cluster.url, "cache_response_enabled": True}
        app = create_app(settings.model_copy(update=update))
        async with serve(app) as client:
            before = await answers(client, operations)
            cached = await answers(client, operations)  # from the cluster now
            resources: Resources = app.state.resources
            assert resources.cache is not None and resources.redis is not None
            hits = resources.cache.stats["response"].hits
            cluster.kill(cluster.ports[1])
            after = [await answers(client, operations) for _ in range(3)]
            ready = await client.get("/readyz")
            opened = resources.redis.breaker.opened
    finally:
        cluster.stop()

    assert [(name, status, codes) for name, status, _, codes in before] == [
        (name, 200, []) for name, _ in READS
    ]
    assert cached == before
    assert hits == len(READS)
    for round_ in after:
        assert round_ == before  # same data, 200, no error, with a master gone
    assert opened >= 1
    assert ready.status_code == 200


async def test_with_a_master_down_each_live_event_is_delivered_once(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    require_redis_binaries(request)
    cluster = RedisCluster(tmp_path)
    channels = [f"mention:S{i:03d}" for i in range(12)]  # spread over the three masters
    try:
        cluster.start()
        shared = SharedRedis.of(connect(cluster.url, 500, 8, cluster=True))
        broker = Broker(lambda b: RedisBackend(b, shared), prefix=f"{RUN_PREFIX}:")
        try:
            async with broker.subscribe(channels, queue_size=100) as subscriber:
                await wait_for(lambda: all(broker.is_live(c) for c in channels))
                cluster.kill(cluster.ports[1])
                await broker.publish([(c, b"after") for c in channels])
                delivered = await drain(subscriber)
        finally:
            await broker.close()
    finally:
        cluster.stop()
    # The surviving masters delivered theirs, this worker the dead master's: none twice.
    assert sorted(delivered) == sorted((c, b"after") for c in channels)


async def drain(subscriber: Subscriber) -> list[Message]:
    """Messages until none arrives for a second."""
    out = []
    while True:
        try:
            out.append(await asyncio.wait_for(subscriber.get(), 1.0))
        except TimeoutError:
            return out
