"""Cache-aside in the loaders: hits run no SQL, one round trip per batch, per-type TTLs."""

from __future__ import annotations

import pytest
import redis.asyncio as redis

from app.config import Settings
from app.db import Database
from app.main import create_app
from app.resources import Resources
from tests.cache.conftest import cache_settings, command_log
from tests.conftest import graphql, serve
from tests.factories.universe import make_universe
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
