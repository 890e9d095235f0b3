"""The response cache: public operations answered before parsing, with HTTP caching headers."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import orjson
import pytest
from graphql import parse

from app.apikeys import create_key
from app.config import Settings
from app.db import Database
from app.http.response_cache import NOT_A_QUERY
from app.main import create_app
from app.timeutil import utcnow
from schema import build_schema
from schema.caching import selected_types
from tests.cache.conftest import cache_settings
from tests.conftest import serve
from tests.factories.mentions import make_mentions
from tests.factories.universe import make_universe
from tests.sqlcount import count_statements

BIG = "query { stocks(first: 30) { nodes { symbol name sector } } }"
STOCKS_ONLY = "query { stocks(first: 5) { nodes { symbol name } } }"
# GET operations need a non-simple header (CSRF prevention, app/http/limits.py).
PREFLIGHT = {"apollo-require-preflight": "1"}


@pytest.fixture
def response_settings(cached_settings: Settings) -> Settings:
    return Settings(**{**cached_settings.model_dump(), "cache_response_enabled": True})


async def post(client: httpx.AsyncClient, query: str, **headers: str) -> httpx.Response:
    return await client.post("/graphql", json={"query": query, "variables": {}}, headers=headers)


async def test_second_identical_operation_is_answered_from_the_response_cache(
    db: Database, response_settings: Settings, operations: dict[str, str]
) -> None:
    await make_universe(db, 5, 3)
    app = create_app(response_settings)
    async with serve(app) as client:
        first = await post(client, operations["StockList"])
        with count_statements() as log:
            second = await post(client, operations["StockList"])
        stats = app.state.resources.cache.stats["response"]
    assert first.headers["x-cache"] == "MISS"
    assert second.headers["x-cache"] == "HIT"
    assert second.json()["data"] == first.json()["data"]
    assert "errors" not in second.json()
    assert log.count == 0
    # The caller's budget is reported on a hit too; nothing executed, so it costs one point.
    hit_cost = second.json()["extensions"]["cost"]
    assert (
        hit_cost["requestedQueryCost"] == first.json()["extensions"]["cost"]["requestedQueryCost"]
    )
    assert hit_cost["actualQueryCost"] == 1
    assert (
        hit_cost["throttleStatus"]["currentlyAvailable"]
        >= first.json()["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] - 1
    )
    assert (stats.hits, stats.misses, stats.writes) == (1, 1, 1)
    # StockList touches Stock (600 s) and Sentiment (120 s): the smaller wins
    assert first.headers["cache-control"] == "public, max-age=120"
    assert second.headers["cache-control"].startswith("public, max-age=")
    assert 110 <= int(second.headers["cache-control"].rsplit("=", 1)[1]) <= 120
    assert second.headers["etag"] == first.headers["etag"]


async def test_ttl_is_the_smallest_among_the_types_touched(
    db: Database, response_settings: Settings
) -> None:
    await make_universe(db, 2, 1)
    async with serve(create_app(response_settings)) as client:
        stocks = await post(client, STOCKS_ONLY)
        with_mentions = await post(
            client, "query { stocks(first: 2) { nodes { mentions(first: 1) { nodes { text } } } } }"
        )
    assert stocks.headers["cache-control"] == "public, max-age=600"
    assert with_mentions.headers["cache-control"] == "public, max-age=300"


async def test_quotes_share_responses_for_the_quote_cache_ttl(
    db: Database, response_settings: Settings
) -> None:
    await make_universe(db, 2, 1)
    query = "query { stocks(first: 2) { nodes { symbol quote { price source } } } }"
    async with serve(create_app(response_settings)) as client:
        quoted = await post(client, query)
    no_quote_cache = response_settings.model_copy(update={"quotes_cache_ttl_s": 0})
    async with serve(create_app(no_quote_cache)) as client:
        # another operation: the first one's stored response may be shared (same Redis)
        unquoted = await post(client, query.replace("first: 2", "first: 1"))
    assert quoted.json()["data"]["stocks"]["nodes"][0]["quote"]["source"] == "SIMULATED"
    assert quoted.headers["cache-control"] == "public, max-age=60"
    assert unquoted.headers["cache-control"] == "no-store"


async def test_ttl_overrides_apply_to_responses(db: Database, response_settings: Settings) -> None:
    await make_universe(db, 2, 1)
    settings = Settings(
        **{**response_settings.model_dump(), "cache_ttl_overrides_s": {"Stock": 45}}
    )
    async with serve(create_app(settings)) as client:
        response = await post(client, STOCKS_ONLY)
    assert response.headers["cache-control"] == "public, max-age=45"


async def test_get_with_a_matching_etag_gets_304(db: Database, response_settings: Settings) -> None:
    await make_universe(db, 2, 1)
    async with serve(create_app(response_settings)) as client:
        first = await client.get("/graphql", params={"query": STOCKS_ONLY}, headers=PREFLIGHT)
        etag = first.headers["etag"]
        again = await client.get(
            "/graphql", params={"query": STOCKS_ONLY}, headers={"if-none-match": etag, **PREFLIGHT}
        )
        other = await client.get(
            "/graphql",
            params={"query": STOCKS_ONLY},
            headers={"if-none-match": '"nope"', **PREFLIGHT},
        )
    assert first.status_code == 200 and first.json()["data"]["stocks"]["nodes"]
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    assert again.headers["cache-control"].startswith("public, max-age=")
    assert other.status_code == 200 and other.json()["data"] == first.json()["data"]


async def test_api_key_callers_are_never_served_nor_stored_in_the_shared_cache(
    db: Database, response_settings: Settings
) -> None:
    await make_universe(db, 2, 1)
    token, _ = await create_key(db, "partner", scopes=["read"], tier="partner")
    bearer = {"authorization": f"Bearer {token}"}
    async with serve(create_app(response_settings)) as client:
        keyed_first = await post(client, STOCKS_ONLY, **bearer)
        anonymous = await post(client, STOCKS_ONLY)
        keyed_again = await post(client, STOCKS_ONLY, **bearer)
    assert keyed_first.headers["cache-control"] == "private, no-store"
    assert "x-cache" not in keyed_first.headers
    assert anonymous.headers["x-cache"] == "MISS"  # the keyed response was not stored
    assert keyed_again.headers["cache-control"] == "private, no-store"
    assert "x-cache" not in keyed_again.headers  # nor is the anonymous one served to a key


async def test_errors_and_oversized_responses_are_not_cached(
    db: Database, response_settings: Settings
) -> None:
    await make_universe(db, 30, 1)
    small = Settings(**{**response_settings.model_dump(), "cache_response_max_bytes": 1024})
    async with serve(create_app(small)) as client:
        bad = await post(client, "query { stocks(first: 500) { nodes { symbol } } }")
        big = await post(client, "query { stocks(first: 30) { nodes { symbol name sector } } }")
        big_again = await post(
            client, "query { stocks(first: 30) { nodes { symbol name sector } } }"
        )
    assert bad.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert bad.headers["cache-control"] == "no-store"
    assert len(big.content) > 1024
    assert big.headers["cache-control"] == "no-store"
    assert "x-cache" not in big_again.headers


async def test_an_ingest_makes_cached_responses_fresh(
    db: Database, response_settings: Settings, operations: dict[str, str]
) -> None:
    ids = await make_universe(db, 2, 1)
    app = create_app(response_settings)
    variables = {"symbols": ["S000"]}
    body = {"query": operations["PartnerScores"], "variables": variables}
    async with serve(app) as client:
        await client.post("/graphql", json=body)
        cached = await client.post("/graphql", json=body)
        async with db.sessionmaker.begin() as session:
            stored = await make_mentions(session, ids[0], [utcnow() - timedelta(minutes=2)])
        await app.state.resources.mentions_stored(stored)
        fresh = await client.post("/graphql", json=body)
    assert cached.headers["x-cache"] == "HIT"
    assert fresh.headers["x-cache"] == "MISS"
    counts = [
        r.json()["data"]["stocksBySymbols"][0]["sentiment"]["mentionCount24h"]
        for r in (cached, fresh)
    ]
    assert counts == [1, 2]


async def test_response_cache_can_be_turned_off(
    db: Database, settings: Settings, namespace: str
) -> None:
    await make_universe(db, 2, 1)
    async with serve(create_app(cache_settings(settings, namespace))) as client:
        await post(client, STOCKS_ONLY)
        again = await post(client, STOCKS_ONLY)
    assert "x-cache" not in again.headers
    assert again.headers["cache-control"] == "private, no-store"


def test_documents_that_are_not_queries_skip_the_response_cache() -> None:
    assert NOT_A_QUERY.match("# ingest\nmutation Ingest { x }")
    assert NOT_A_QUERY.match("  subscription S { y }")
    assert not NOT_A_QUERY.match("query Q { stocks { nodes { symbol } } }")
    assert not NOT_A_QUERY.match("{ mutationCount }")


def test_the_types_of_a_document_are_worked_out_once_per_text() -> None:
    schema = build_schema(Settings())._schema
    query = "{ stocks(first: 2) { nodes { symbol sentiment { label } } } }"
    first = selected_types(schema, parse(query))
    again = selected_types(schema, parse(query))  # a new parse of the same text
    assert first == {"Query", "StockConnection", "Stock", "Sentiment"}
    assert again is first


async def test_concurrent_identical_misses_execute_once_and_the_others_follow_it(
    db: Database, response_settings: Settings, operations: dict[str, str]
) -> None:
    await make_universe(db, 5, 3)
    app = create_app(response_settings)
    async with serve(app) as client:
        await post(client, STOCKS_ONLY)  # the worker's first reads (a different entry)
        with count_statements() as log:
            answers = await asyncio.gather(
                *(post(client, operations["StockList"]) for _ in range(8))
            )
        stats = app.state.resources.cache.stats["response"]
    assert sorted(a.headers["x-cache"] for a in answers) == ["HIT"] * 7 + ["MISS"]
    assert (stats.misses, stats.hits, stats.writes) == (2, 7, 2)
    assert len({orjson.dumps(a.json()["data"]) for a in answers}) == 1
    # One execution: one read of the sentiments, not eight (partition upkeep may run beside it).
    assert sum("FROM sentiment_buckets" in s for s in log.statements) == 1
    # Each follower paid for a hit, not for the execution it did not run.
    followers = [a for a in answers if a.headers["x-cache"] == "HIT"]
    assert {a.json()["extensions"]["cost"]["actualQueryCost"] for a in followers} == {1}


async def test_followers_execute_themselves_when_the_leader_stores_nothing(
    db: Database, response_settings: Settings
) -> None:
    await make_universe(db, 3, 1)
    app = create_app(response_settings)
    refused = "query { stocks(first: 500) { nodes { symbol } } }"  # BAD_USER_INPUT: not stored
    async with serve(app) as client:
        answers = await asyncio.gather(*(post(client, refused) for _ in range(4)))
        stats = app.state.resources.cache.stats["response"]
    assert [a.json()["errors"][0]["extensions"]["code"] for a in answers] == ["BAD_USER_INPUT"] * 4
    assert {a.headers["cache-control"] for a in answers} == {"no-store"}
    assert (stats.misses, stats.hits, stats.writes) == (4, 0, 0)
