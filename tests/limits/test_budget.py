"""Cost budgets per client: drain and refill, HTTP 429 with Retry-After, shared through Redis."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from app.apikeys import TIERS, create_key
from app.config import Settings
from app.db import Database
from app.main import create_app
from app.ratelimit import MemoryBuckets, Rate, RedisBuckets, more_budget_hint
from tests.cache.proxy import closed_port
from tests.conftest import graphql, serve
from tests.factories.stocks import make_stock
from tests.factories.universe import make_universe
from tests.sqlcount import count_statements

# Costs 1 and returns the one stored stock, so the actual cost is the requested one (no refund).
ONE_STOCK = '{ stocksBySymbols(symbols: ["AAPL"]) { symbol } }'


def tight(settings: Settings, **overrides: object) -> Settings:
    """The test's settings with an anonymous budget of 3 points that barely refills."""
    values: dict[str, object] = {
        "budget_anonymous_capacity": 3,
        "budget_anonymous_restore_per_s": 0.01,
        **overrides,
    }
    return settings.model_copy(update=values)


@pytest.fixture
async def stored(db: Database) -> Database:
    async with db.sessionmaker.begin() as session:
        await make_stock(session, "AAPL")
    return db


async def test_memory_bucket_drains_then_refills() -> None:
    buckets = MemoryBuckets()
    rate = Rate(capacity=10, per_s=100.0)
    assert (await buckets.take("ip:1", 10, rate)).allowed
    refused = await buckets.take("ip:1", 5, rate)
    assert not refused.allowed
    assert refused.retry_after_s == 1
    assert (await buckets.take("ip:2", 5, rate)).allowed  # another client has its own bucket
    await asyncio.sleep(0.1)  # 100 points/s for 0.1 s refills the 10-point bucket
    assert (await buckets.take("ip:1", 5, rate)).allowed


async def test_refund_never_exceeds_the_capacity() -> None:
    buckets = MemoryBuckets()
    rate = Rate(capacity=10, per_s=0.001)
    await buckets.take("ip:1", 4, rate)
    decision = await buckets.take("ip:1", -100, rate)
    assert decision.available == 10


async def test_over_budget_is_429_with_retry_after_and_no_sql(
    stored: Database, settings: Settings
) -> None:
    async with serve(create_app(tight(settings))) as client:
        for left in (2, 1, 0):
            body = await graphql(client, ONE_STOCK)
            assert body["data"] == {"stocksBySymbols": [{"symbol": "AAPL"}]}
            assert body["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] == left
        with count_statements() as sql:
            response = await client.post("/graphql", json={"query": ONE_STOCK})
        assert sql.count == 0
        assert response.status_code == 429
        assert response.headers["retry-after"] == "100"  # 1 point at 0.01 point/s
        body = response.json()
        assert "data" not in body  # a request error: nothing executed
        assert body["errors"][0]["extensions"] == {
            "code": "THROTTLED",
            "cost": 1,
            "available": 0,
            "retryAfter": 100,
            "tier": "anonymous",
        }
        message = body["errors"][0]["message"]
        assert "send an API key of the free or partner tier" in message
        assert "BUDGET_ANONYMOUS_CAPACITY and BUDGET_ANONYMOUS_RESTORE_PER_S" in message


async def test_a_throttled_key_is_told_the_next_tier_and_the_settings(
    stored: Database, settings: Settings
) -> None:
    token, _ = await create_key(stored, "small", tier="free")
    small = tight(settings, budget_free_capacity=1, budget_free_restore_per_s=0.01)
    async with serve(create_app(small)) as client:
        auth = {"Authorization": f"Bearer {token}"}
        assert (await graphql(client, ONE_STOCK, Authorization=auth["Authorization"]))["data"]
        response = await client.post("/graphql", json={"query": ONE_STOCK}, headers=auth)

    assert response.status_code == 429
    error = response.json()["errors"][0]
    assert error["extensions"]["tier"] == "free"
    assert "use an API key of the partner tier" in error["message"]
    assert "BUDGET_FREE_CAPACITY and BUDGET_FREE_RESTORE_PER_S" in error["message"]


def test_every_tier_hint_names_settings_that_exist() -> None:
    fields = {name.upper() for name in Settings.model_fields}
    for tier in ("anonymous", *TIERS, "unknown"):
        named = re.findall(r"BUDGET_[A-Z_]+", more_budget_hint(tier))
        assert named and set(named) <= fields, tier


async def test_development_lets_a_person_explore_and_production_keeps_its_budget(
    db: Database, settings: Settings, operations: dict[str, str]
) -> None:
    await make_universe(db, stocks=50, mentions_per_stock=10)
    # Twenty edits of the frontend's feed (~800 points each), one after the other.
    edits = [f"{operations['MentionFeed']}\n# edit {i}\n" for i in range(20)]
    common = {"database_url": settings.database_url, "cache_warm_on_start": False}
    development = Settings(**common)  # type: ignore[arg-type]
    production = Settings(app_env="production", **common)  # type: ignore[arg-type]

    async def statuses(app_settings: Settings) -> list[int]:
        async with serve(create_app(app_settings)) as client:
            return [(await client.post("/graphql", json={"query": q})).status_code for q in edits]

    assert set(await statuses(development)) == {200}
    assert 429 in await statuses(production)
    assert production.budget_anonymous_capacity == 2000


async def test_an_anonymous_flood_does_not_starve_a_keyed_client(
    stored: Database, settings: Settings
) -> None:
    token, _ = await create_key(stored, "partner", tier="partner")
    async with serve(create_app(tight(settings))) as client:
        statuses = [
            (await client.post("/graphql", json={"query": ONE_STOCK})).status_code
            for _ in range(10)
        ]
        assert statuses == [200] * 3 + [429] * 7
        body = await graphql(client, ONE_STOCK, Authorization=f"Bearer {token}")
        assert body["data"] == {"stocksBySymbols": [{"symbol": "AAPL"}]}
        status = body["extensions"]["cost"]["throttleStatus"]
        assert status["maximumAvailable"] == settings.budget_partner_capacity
        assert status["currentlyAvailable"] == settings.budget_partner_capacity - 1


async def test_unused_points_are_given_back(stored: Database, settings: Settings) -> None:
    async with serve(create_app(tight(settings, budget_anonymous_capacity=200))) as client:
        # Asks for 50 x 2 + 2 = 102 points, returns one stock without sentiment: costs 3.
        body = await graphql(
            client,
            "{ stocks(first: 50) { pageInfo { hasNextPage } nodes { sentiment { label } } } }",
        )
        cost = body["extensions"]["cost"]
        assert (cost["requestedQueryCost"], cost["actualQueryCost"]) == (102, 3)
        assert cost["throttleStatus"]["currentlyAvailable"] == 197


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


async def test_redis_bucket_drains_then_refills(redis: Redis) -> None:
    prefix = f"test:budget:{uuid.uuid4().hex}:"
    buckets = RedisBuckets(redis, prefix)
    rate = Rate(capacity=10, per_s=100.0)
    assert (await buckets.take("ip:1", 10, rate)).allowed
    refused = await buckets.take("ip:1", 5, rate)
    assert not refused.allowed and refused.retry_after_s == 1
    await asyncio.sleep(0.1)
    assert (await buckets.take("ip:1", 5, rate)).allowed
    assert 0 < await redis.pttl(prefix + "ip:1") <= 1100
    await redis.delete(prefix + "ip:1")


async def test_two_app_instances_share_the_bucket_through_redis(
    stored: Database, settings: Settings, redis_url: str, redis: Redis
) -> None:
    prefix = f"test:budget:{uuid.uuid4().hex}:"
    shared = tight(settings, redis_url=redis_url, budget_key_prefix=prefix)
    async with serve(create_app(shared)) as first, serve(create_app(shared)) as second:
        for client in (first, second, first):
            assert (await client.post("/graphql", json={"query": ONE_STOCK})).status_code == 200
        response = await second.post("/graphql", json={"query": ONE_STOCK})
        assert response.status_code == 429
        assert response.json()["errors"][0]["extensions"]["code"] == "THROTTLED"
    assert await redis.exists(prefix + "ip:127.0.0.1") == 1
    await redis.delete(prefix + "ip:127.0.0.1")


async def test_an_unreachable_redis_falls_back_to_in_process_buckets_and_logs_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Nothing listens on this port: every call fails to connect.
    redis = Redis.from_url(f"redis://127.0.0.1:{closed_port()}/0", socket_connect_timeout=0.5)
    buckets = RedisBuckets(redis, "test:budget:down:")
    rate = Rate(capacity=3, per_s=0.01)
    try:
        decisions = [await buckets.take("ip:1", 1, rate) for _ in range(4)]
    finally:
        await redis.aclose()
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert buckets.shared.breaker.failures == 1  # the open circuit skipped Redis afterwards
    lines = [r.getMessage() for r in caplog.records if r.name == "insitechart.redis"]
    assert len(lines) == 1 and "redis unavailable (ConnectionError)" in lines[0]
    assert "127.0.0.1" not in lines[0]
