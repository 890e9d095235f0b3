"""A private Redis killed and frozen: degraded, never down; one breaker, few log lines."""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import timedelta
from typing import Any

import httpx
import orjson
import redis.asyncio as redis
from sqlalchemy import func, select

from app.apikeys import create_key
from app.config import Settings
from app.db import Database
from app.main import create_app
from app.models import Mention
from app.timeutil import utcnow
from tests.conftest import serve
from tests.factories.stocks import make_stock
from tests.faults.conftest import app_logs
from tests.faults.services import RedisServer
from tests.liveserver import live_server, receive, subscribe, wait_for, ws_client

ONE_STOCK = '{ stock(symbol: "AAPL") { symbol name } }'


def redis_settings(settings: Settings, url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "redis_url": url,
        "cache_warm_on_start": False,
        "cache_warm_interval_s": 0,
        **overrides,
    }
    return settings.model_copy(update=values)


def item(external_id: str) -> dict[str, Any]:
    published = (utcnow() - timedelta(minutes=5)).isoformat()
    return {
        "source": "NEWS",
        "externalId": external_id,
        "text": "$AAPL up",
        "publishedAt": published,
    }


async def prepare(db: Database) -> str:
    async with db.sessionmaker.begin() as session:
        await make_stock(session, "AAPL")
    token, _ = await create_key(db, "pusher", scopes=["read", "ingest"])
    return token


async def mixed(client: httpx.AsyncClient, token: str, ingest: str, ids: list[str]) -> list[Any]:
    """Anonymous and keyed reads and an ingest per id; (status, seconds, body) of each."""
    keyed = {"Authorization": f"Bearer {token}"}
    answers = []
    for external_id in ids:
        body = {"query": ingest, "variables": {"mentions": [item(external_id)]}}
        for payload, headers in (
            ({"query": ONE_STOCK}, {}),
            ({"query": ONE_STOCK}, keyed),
            (body, keyed),
        ):
            started = time.monotonic()
            response = await client.post("/graphql", json=payload, headers=headers)
            answers.append((response.status_code, time.monotonic() - started, response.json()))
    return answers


async def stored(db: Database) -> int:
    async with db.sessionmaker() as session:
        return int((await session.execute(select(func.count()).select_from(Mention))).scalar_one())


async def test_redis_killed_serves_every_request_reports_degraded_and_recovers(
    db: Database, settings: Settings, operations: dict[str, str], private_redis: RedisServer
) -> None:
    token = await prepare(db)
    app = create_app(redis_settings(settings, private_redis.url, cache_breaker_cooldown_s=0.3))
    ingest = operations["IngestMentions"]
    async with serve(app) as client:
        before = await mixed(client, token, ingest, ["k0"])
        with app_logs() as logs:
            private_redis.kill()
            down = await mixed(client, token, ingest, [f"k{i}" for i in range(1, 6)])
            ready_down = await client.get("/readyz")
            await private_redis.start()  # the same port, empty
            await asyncio.sleep(0.4)  # past the cooldown: the next call probes
            after = await mixed(client, token, ingest, ["k6", "k6"])
            ready_up = await client.get("/readyz")

    assert all(status == 200 and "errors" not in body for status, _, body in before + down + after)
    accepted = [
        b["data"]["ingestMentions"]["accepted"] for _, _, b in down + after if "ingest" in str(b)
    ]
    assert accepted == [1, 1, 1, 1, 1, 1, 0]  # the re-sent k6 is a duplicate
    assert await stored(db) == 7  # nothing acknowledged was lost or stored twice
    assert ready_down.status_code == 200
    assert ready_down.json()["status"] == "degraded" and ready_down.json()["redis"] == "down"
    assert ready_up.json()["status"] == "ready"
    # The outage is a few lines (breaker opened, pub/sub, breaker closed), not one per request.
    assert len(logs.lines()) <= 5, logs.lines()
    assert logs.tracebacks() == 0
    assert not any(str(private_redis.port) in line for line in logs.lines())


async def test_a_frozen_redis_costs_a_request_little_and_opens_the_breaker_once(
    db: Database, settings: Settings, operations: dict[str, str], private_redis: RedisServer
) -> None:
    token = await prepare(db)
    app = create_app(redis_settings(settings, private_redis.url))
    ingest = operations["IngestMentions"]
    async with serve(app) as client:
        await mixed(client, token, ingest, ["f0"])  # the pool holds connections now
        private_redis.freeze()
        try:
            frozen = await mixed(client, token, ingest, [f"f{i}" for i in range(1, 8)])
        finally:
            private_redis.thaw()
        breaker = app.state.resources.redis.breaker

    assert all(status == 200 and "errors" not in body for status, _, body in frozen)
    # A generous guard, not a benchmark: the timeout is tens of ms and the circuit then opens.
    assert max(seconds for _, seconds, _ in frozen) < 1.5
    assert sum(seconds for _, seconds, _ in frozen) < 5
    assert breaker.opened == 1
    assert await stored(db) == 8


async def test_subscribing_while_redis_is_down_works_locally_and_leaks_no_address(
    db: Database, settings: Settings, operations: dict[str, str], private_redis: RedisServer
) -> None:
    token = await prepare(db)
    private_redis.kill()
    async with (
        live_server(redis_settings(settings, private_redis.url)) as server,
        ws_client(server) as ws,
    ):
        await subscribe(ws, "m", operations["LiveMentions"], {"symbols": ["AAPL"]})
        await asyncio.sleep(0.2)
        async with httpx.AsyncClient(base_url=server.http_url) as http:
            body = {"query": operations["IngestMentions"], "variables": {"mentions": [item("s1")]}}
            answer = await http.post(
                "/graphql", json=body, headers={"Authorization": f"Bearer {token}"}
            )
        message = await receive(ws)
    assert answer.json()["data"]["ingestMentions"]["accepted"] == 1
    assert message["type"] == "next", message
    assert message["payload"]["data"]["mentionAdded"]["stock"] == {"symbol": "AAPL"}
    assert str(private_redis.port) not in orjson.dumps(message).decode()


async def test_pub_sub_resumes_after_redis_restarts_without_resubscribing(
    private_redis: RedisServer,
) -> None:
    from app.realtime.broker import create_broker

    broker = create_broker(private_redis.url, prefix="t:")
    other = redis.Redis.from_url(private_redis.url)
    try:
        async with broker.subscribe(["m:A"], queue_size=100) as sub:
            await wait_for(lambda: broker.is_live("m:A"))
            private_redis.kill()
            await asyncio.sleep(0.3)
            await private_redis.start()  # the same port, no subscriptions
            received = None
            for _ in range(50):  # another worker publishes until this one hears it
                with contextlib.suppress(redis.ConnectionError):
                    await other.publish("t:m:A", b"hello")
                with contextlib.suppress(TimeoutError):
                    received = await asyncio.wait_for(sub.get(), 0.2)
                    break
    finally:
        await other.aclose()
        await broker.close()
    assert received == ("m:A", b"hello")
