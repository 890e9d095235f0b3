"""Shared responses are tagged with what they show: an ingest stales only the responses about it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI

from app.cache import build_cache
from app.config import Settings
from app.db import Database
from app.main import create_app
from app.timeutil import utcnow
from tests.cache.conftest import cache_settings, command_log
from tests.conftest import serve
from tests.factories.mentions import make_mentions
from tests.factories.universe import make_universe

TRENDING = "query { trendingStocks(window: DAY, limit: 5) { mentionCount stock { symbol } } }"
STOCKS_ONLY = "query { stocks(first: 5) { nodes { symbol name } } }"


@pytest.fixture
def response_settings(cached_settings: Settings) -> Settings:
    return cached_settings.model_copy(update={"cache_response_enabled": True})


@pytest.fixture
def redis_response_settings(
    settings: Settings, namespace: str, redis_url: str, redis_client: Any
) -> Settings:
    """Response cache on Redis; `redis_client` deletes the test's keys afterwards."""
    return cache_settings(settings, namespace, redis_url=redis_url, cache_response_enabled=True)


async def scores(client: httpx.AsyncClient, operations: dict[str, str], *symbols: str) -> Any:
    body = {"query": operations["PartnerScores"], "variables": {"symbols": list(symbols)}}
    return await client.post("/graphql", json=body)


async def ingest_one(db: Database, app: FastAPI, stock_id: int) -> None:
    """Store a mention for `stock_id` and run the after-write hooks, as an ingest does."""
    async with db.sessionmaker.begin() as session:
        stored = await make_mentions(session, stock_id, [utcnow() - timedelta(minutes=2)])
    await app.state.resources.mentions_stored(stored)


def mention_count(response: httpx.Response) -> int:
    return int(response.json()["data"]["stocksBySymbols"][0]["sentiment"]["mentionCount24h"])


async def test_an_ingest_for_one_stock_leaves_responses_about_other_stocks_cached(
    db: Database, response_settings: Settings, operations: dict[str, str]
) -> None:
    ids = await make_universe(db, 2, 1)
    app = create_app(response_settings)
    async with serve(app) as client:
        await scores(client, operations, "S000")
        await scores(client, operations, "S001")
        await ingest_one(db, app, ids[0])
        about_a = await scores(client, operations, "S000")
        about_b = await scores(client, operations, "S001")
        about_a_again = await scores(client, operations, "S000")
    assert about_a.headers["x-cache"] == "MISS"
    assert mention_count(about_a) == 2  # fresh data, not the stored response
    assert about_b.headers["x-cache"] == "HIT"
    assert mention_count(about_b) == 1
    assert about_a_again.headers["x-cache"] == "HIT"
    assert mention_count(about_a_again) == 2


async def test_a_trending_response_goes_stale_on_any_ingest(
    db: Database, response_settings: Settings
) -> None:
    ids = await make_universe(db, 3, 1)
    app = create_app(response_settings)
    async with serve(app) as client:
        await client.post("/graphql", json={"query": TRENDING})
        cached = await client.post("/graphql", json={"query": TRENDING})
        await ingest_one(db, app, ids[2])
        fresh = await client.post("/graphql", json={"query": TRENDING})
    assert cached.headers["x-cache"] == "HIT"
    assert fresh.headers["x-cache"] == "MISS"
    counts = {
        t["stock"]["symbol"]: t["mentionCount"] for t in fresh.json()["data"]["trendingStocks"]
    }
    assert counts["S002"] == 2


async def test_a_response_without_mention_data_outlives_an_ingest(
    db: Database, response_settings: Settings
) -> None:
    # Stock rows do not change on ingest (a new stock is not an ingest event): only the TTL ends it.
    ids = await make_universe(db, 2, 1)
    app = create_app(response_settings)
    async with serve(app) as client:
        await client.post("/graphql", json={"query": STOCKS_ONLY})
        await ingest_one(db, app, ids[0])
        after = await client.post("/graphql", json={"query": STOCKS_ONLY})
    assert after.headers["x-cache"] == "HIT"


async def test_a_response_with_too_many_stocks_falls_back_to_the_global_tag(
    db: Database, response_settings: Settings, operations: dict[str, str]
) -> None:
    ids = await make_universe(db, 3, 1)
    app = create_app(response_settings.model_copy(update={"cache_response_max_tags": 1}))
    async with serve(app) as client:
        await scores(client, operations, "S000", "S001")
        cached = await scores(client, operations, "S000", "S001")
        await ingest_one(db, app, ids[2])  # a stock the response does not show
        after = await scores(client, operations, "S000", "S001")
    assert cached.headers["x-cache"] == "HIT"
    assert after.headers["x-cache"] == "MISS"


async def test_two_instances_sharing_redis_agree_on_what_an_ingest_made_stale(
    db: Database, redis_response_settings: Settings, operations: dict[str, str]
) -> None:
    ids = await make_universe(db, 2, 1)
    first, second = create_app(redis_response_settings), create_app(redis_response_settings)
    async with serve(first) as one, serve(second) as two:
        await scores(one, operations, "S000")
        await scores(one, operations, "S001")
        shared = await scores(two, operations, "S000")
        await ingest_one(db, second, ids[0])
        a_on_one = await scores(one, operations, "S000")
        b_on_one = await scores(one, operations, "S001")
        a_on_two = await scores(two, operations, "S000")
    assert shared.headers["x-cache"] == "HIT"
    assert a_on_one.headers["x-cache"] == "MISS"
    assert mention_count(a_on_one) == 2
    assert b_on_one.headers["x-cache"] == "HIT"
    assert a_on_two.headers["x-cache"] == "HIT"  # stored by the first instance after the ingest
    assert mention_count(a_on_two) == 2


async def test_a_hit_is_one_redis_round_trip_whatever_its_tags(
    db: Database, redis_response_settings: Settings, operations: dict[str, str]
) -> None:
    await make_universe(db, 2, 1)
    app = create_app(redis_response_settings)
    async with serve(app) as client:
        await scores(client, operations, "S000", "S001")
        await client.post("/graphql", json={"query": STOCKS_ONLY})
        log = command_log(app.state.resources.cache)
        tagged = await scores(client, operations, "S000", "S001")
        tagged_trips = list(log.round_trips)
        log.clear()
        untagged = await client.post("/graphql", json={"query": STOCKS_ONLY})
        untagged_trips = list(log.round_trips)
    assert tagged.headers["x-cache"] == "HIT"
    assert untagged.headers["x-cache"] == "HIT"
    # The script reads the entry and the generations of its two stocks on the server.
    assert tagged_trips == [["EVALSHA"]]
    assert untagged_trips == [["EVALSHA"]]


async def test_get_current_checks_the_tags_an_entry_lists(cached_settings: Settings) -> None:
    cache = build_cache(cached_settings)
    prefix = cache.generation_key("")
    key = cache.generation_key("entry")  # under the test's namespace, deleted afterwards
    try:
        await cache.bump(["stock:1", "responses"])
        entry = b'[[["stock:1", 1], ["stock:2", 0]], 0, "e", 0, "op"]\n{"data": {}}'
        await cache.backend.set_many([(key, entry, 60)])
        fresh = await cache.backend.get_current(key, prefix, "responses")
        await cache.bump(["stock:2"])
        stale = await cache.backend.get_current(key, prefix, "responses")
        await cache.backend.set_many([(key, b'[1, 0, "e", 0, "op"]\n{}', 60)])
        old_format = await cache.backend.get_current(key, prefix, "responses")
        absent = await cache.backend.get_current(key + ":none", prefix, "responses")
    finally:
        await cache.close()
    assert fresh == (entry, 1)
    assert stale == (None, 1)
    assert old_format == (None, 1)
    assert absent == (None, 1)


async def test_an_entry_of_many_tags_is_checked_in_parts(cached_settings: Settings) -> None:
    # The script reads the generations 500 tags at a time: a bump in the last part is seen.
    cache = build_cache(cached_settings)
    prefix = cache.generation_key("")
    key = cache.generation_key("entry")
    tags = [[f"stock:{i}", 0] for i in range(1, 1201)]
    entry = orjson.dumps([tags, 0, "e", 0, "op"]) + b'\n{"data": {}}'
    try:
        await cache.backend.set_many([(key, entry, 60)])
        fresh = await cache.backend.get_current(key, prefix, "responses")
        await cache.bump(["stock:1200"])
        stale = await cache.backend.get_current(key, prefix, "responses")
    finally:
        await cache.close()
    assert fresh == (entry, 0)
    assert stale == (None, 0)
