"""Cache-aside in the loaders: hits run no SQL, one round trip per batch, per-type TTLs."""

from __future__ import annotations

from collections import Counter
from typing import Any

import orjson
import pytest
import redis.asyncio as redis

from app.cache.core import Decoded
from app.config import Settings
from app.db import Database
from app.main import create_app
from app.resources import Resources
from loaders.codec import ListCodec, RowCodec
from loaders.rows import StockRow
from tests.cache.conftest import cache_settings, command_log
from tests.cache.test_response_tags import ingest_one
from tests.conftest import graphql, serve
from tests.factories.universe import make_universe
from tests.schema.differential import count_executed
from tests.sqlcount import count_statements

QUERIES = ["MentionFeed", "PartnerScores", "StockDetail", "StockList", "Trending"]


def variables_for(name: str) -> dict[str, object]:
    if name == "StockDetail":
        return {"symbol": "S001"}
    if name == "PartnerScores":
        return {"symbols": ["S000", "S001", "S002", "NOPE"]}
    return {}


@pytest.mark.parametrize("name", QUERIES)
async def test_second_identical_operation_runs_no_sql(
    db: Database, cached_settings: Settings, operations: dict[str, str], name: str
) -> None:
    await make_universe(db, 6, 5)
    async with serve(create_app(cached_settings)) as client:
        with count_statements() as cold:
            first = await graphql(client, operations[name], variables_for(name))
        with count_statements() as warm:
            second = await graphql(client, operations[name], variables_for(name))
    assert "errors" not in first, first
    assert cold.count > 0
    assert warm.count == 0, warm.statements
    assert second["data"] == first["data"]


async def test_cache_disabled_runs_the_sql_every_time(
    db: Database, settings: Settings, operations: dict[str, str], namespace: str
) -> None:
    await make_universe(db, 3, 2)
    app = create_app(cache_settings(settings, namespace, cache_enabled=False))
    async with serve(app) as client:
        await graphql(client, operations["StockList"])
        with count_statements() as again:
            await graphql(client, operations["StockList"])
    assert again.count == 2


@pytest.mark.parametrize("stocks", [5, 40])
async def test_each_loader_batch_is_one_mget_and_one_write_pipeline(
    db: Database,
    settings: Settings,
    namespace: str,
    redis_url: str,
    redis_client: redis.Redis,
    operations: dict[str, str],
    stocks: int,
) -> None:
    await make_universe(db, stocks, 3)
    app = create_app(cache_settings(settings, namespace, redis_url=redis_url))
    async with serve(app) as client:
        resources: Resources = app.state.resources
        log = command_log(resources.cache)
        await graphql(client, operations["StockList"])  # stock page -> sentiment: two batches
        cold = list(log.round_trips)
        log.clear()
        await graphql(client, operations["StockList"])
        warm = list(log.round_trips)
    assert log.count("MGET") == 2
    assert warm == [["MGET"], ["MGET"]]
    assert [t[0] for t in cold] == ["MGET", "SET-NX", "SET", "MGET", "SET-NX", "SET"]
    sentiment_write = cold[5]
    assert sentiment_write.count("SET") == stocks and sentiment_write[-1] == "DEL"


async def test_redis_holds_each_type_with_its_ttl(
    db: Database,
    settings: Settings,
    namespace: str,
    redis_url: str,
    redis_client: redis.Redis,
    operations: dict[str, str],
) -> None:
    await make_universe(db, 3, 4)
    app = create_app(cache_settings(settings, namespace, redis_url=redis_url))
    async with serve(app) as client:
        await graphql(client, operations["StockDetail"], {"symbol": "S000"})
        await graphql(client, operations["Trending"])
    ttls: dict[str, list[int]] = {}
    async for key in redis_client.scan_iter(match=f"{namespace}:v*", count=1000):
        type_name = key.decode().split(":")[2]
        ttls.setdefault(type_name, []).append(await redis_client.ttl(key))
    assert sorted(ttls) == ["Mention", "Sentiment", "SentimentPoint", "Stock", "trending"]
    assert all(590 <= t <= 600 for t in ttls["Stock"])
    assert all(110 <= t <= 120 for t in ttls["Sentiment"] + ttls["SentimentPoint"])
    assert all(290 <= t <= 300 for t in ttls["Mention"])
    # trending: the adaptive TTL (30..600 s) plus 60 s of stale-while-revalidate
    assert all(80 <= t <= 660 for t in ttls["trending"])


async def test_ttl_overrides_from_settings_replace_the_declared_ttls(
    db: Database,
    settings: Settings,
    namespace: str,
    redis_url: str,
    redis_client: redis.Redis,
    operations: dict[str, str],
) -> None:
    await make_universe(db, 2, 2)
    overridden = cache_settings(
        settings, namespace, redis_url=redis_url, cache_ttl_overrides_s={"Stock": 42}
    )
    async with serve(create_app(overridden)) as client:
        await graphql(client, operations["StockList"])
    stock_ttls = [
        await redis_client.ttl(k)
        async for k in redis_client.scan_iter(match=f"{namespace}:v*:Stock:*", count=1000)
    ]
    sentiment_ttls = [
        await redis_client.ttl(k)
        async for k in redis_client.scan_iter(match=f"{namespace}:v*:Sentiment:*", count=1000)
    ]
    assert stock_ttls and all(32 <= t <= 42 for t in stock_ttls)
    assert sentiment_ttls and all(110 <= t <= 120 for t in sentiment_ttls)


def test_ttl_override_for_an_unknown_type_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown type 'Stocks'"):
        Settings(cache_ttl_overrides_s={"Stocks": 10})


def test_ttl_override_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match=r"CACHE_TTL_OVERRIDES_S\['Stock'\] must be 1..86400"):
        Settings(cache_ttl_overrides_s={"Stock": 0})


async def test_hits_and_misses_are_counted_per_type(
    db: Database, cached_settings: Settings, operations: dict[str, str]
) -> None:
    await make_universe(db, 4, 2)
    app = create_app(cached_settings)
    recorded: list[tuple[str, str, int]] = []
    async with serve(app) as client:
        cache = app.state.resources.cache
        cache.on_record.append(lambda *event: recorded.append(event))
        await graphql(client, operations["StockList"])
        await graphql(client, operations["StockList"])
        stats = cache.stats
    assert (stats["Stock"].hits, stats["Stock"].misses) == (1, 1)
    assert (stats["Sentiment"].hits, stats["Sentiment"].misses) == (4, 4)
    assert stats["Sentiment"].hit_ratio == 0.5
    assert ("Sentiment", "loads", 4) in recorded


async def test_a_stored_value_read_again_is_not_decoded_again(
    db: Database, cached_settings: Settings, operations: dict[str, str]
) -> None:
    ids = await make_universe(db, 6, 5)
    app = create_app(cached_settings)
    async with serve(app) as client:
        first = await graphql(client, operations["MentionFeed"])  # stores what it read
        decoded = app.state.resources.cache._decoded
        second = await graphql(client, operations["MentionFeed"])  # decodes it
        parsed = decoded.parsed
        third = await graphql(client, operations["MentionFeed"])
        assert decoded.parsed == parsed > 0  # every page, stock and sentiment known by its bytes
        await ingest_one(db, app, ids[1])
        # The known bytes hold the old generation: a miss, read from the database and stored.
        fourth = await graphql(client, operations["MentionFeed"])
        assert decoded.parsed == parsed
        fifth = await graphql(client, operations["MentionFeed"])  # the new bytes, decoded
    assert first["data"] == second["data"] == third["data"]
    assert fourth["data"] != first["data"] and fifth["data"] == fourth["data"]
    assert decoded.parsed > parsed


def test_decoded_values_are_bounded_by_entries_and_bytes() -> None:
    codec = RowCodec(StockRow)
    decoded = Decoded(512 * 1024)  # CACHE_DECODED_MAX_BYTES: 1,024 entries at most
    row = [1, "S001", "Stock 1", "NYSE", "Tech", "Software"]
    blobs = [orjson.dumps([1, 1e10 + i, row]) for i in range(3000)]
    for blob in blobs:
        assert decoded.read(codec, blob) is not None
    assert len(decoded) == decoded.max_entries == 1024
    known = decoded.read(codec, blobs[-1])
    assert known is not None and known is decoded.read(codec, blobs[-1])
    assert known[0] == 1 and known[2] == 1e10 + 2999 and known[1].symbol == "S001"
    assert decoded.parsed == 3000
    big = [orjson.dumps([1, float(i), [*row[:5], "x" * 20_000]]) for i in range(50)]
    for blob in big:
        decoded.read(codec, blob)
    assert decoded._bytes <= 512 * 1024 and 0 < len(decoded) < 50
    assert decoded.read(codec, b"[1, 2") is None  # unreadable: a miss
    listed = ListCodec(RowCodec(StockRow))
    blob = orjson.dumps([1, 1e10, [row]])
    assert decoded.read(listed, blob) is not decoded.read(listed, blob)  # lists: never shared
    none_kept = Decoded(0)
    assert none_kept.read(codec, blobs[0]) is not none_kept.read(codec, blobs[0])
    assert len(none_kept) == 0 and none_kept.parsed == 2


async def test_a_stock_page_read_again_completes_its_points_and_mentions_from_what_was_kept(
    db: Database, cached_settings: Settings, operations: dict[str, str], monkeypatch: Any
) -> None:
    """StockDetail's 48 points and 20 mentions come from values the field cache decoded once
    (schema/built.py): the requests after the one that decoded them take their completed values,
    executing none of their fields, and answer the same."""
    executed = count_executed(monkeypatch)
    await make_universe(db, 6, 5)
    async with serve(create_app(cached_settings)) as client:
        first = await graphql(client, operations["StockDetail"], {"symbol": "S001"})
        first_run = Counter(executed)
        # The first answer was read from SQL; the second decodes what the first stored.
        await graphql(client, operations["StockDetail"], {"symbol": "S001"})
        executed.clear()
        third = await graphql(client, operations["StockDetail"], {"symbol": "S001"})
    assert third["data"] == first["data"] and "errors" not in first
    assert first_run["SentimentPoint"] == 48 and first_run["Mention"] == 5
    kept = {"SentimentPoint", "Mention", "PageInfo"}
    assert not kept & set(executed)  # the stock, its sentiment and edges are completed anew
    assert {"Stock", "MentionEdge"} <= set(executed)
