"""Trending: an adaptive TTL, and stale-while-revalidate."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from app.config import Settings
from app.db import Database
from app.main import create_app
from app.timeutil import utcnow
from loaders.rows import TrendingRow
from loaders.trending import TRENDING_MAX_TTL_S, adaptive_ttl
from tests.cache.conftest import cache_settings
from tests.conftest import graphql, serve
from tests.factories.mentions import make_mentions
from tests.factories.universe import make_universe
from tests.sqlcount import count_statements

TRENDING = "query { trendingStocks(window: DAY, limit: 5) { mentionCount stock { symbol } } }"


def ranking(change: float, count: int) -> list[TrendingRow]:
    return [TrendingRow(1, count, count, change, 0.1, float(count))]


@pytest.mark.parametrize(
    ("change", "count", "expected"),
    [
        (0.0, 500, 600.0),  # stable and popular: twice the base, at most the maximum
        (0.05, 20, 300.0),  # stable but quiet: the base
        (0.3, 500, 300.0),  # moving a little: the base
        (0.6, 500, 150.0),  # moving: half
        (3.0, 500, 75.0),  # jumping: a quarter
    ],
)
def test_trending_ttl_adapts_to_how_the_ranking_moves(
    change: float, count: int, expected: float
) -> None:
    assert adaptive_ttl(ranking(change, count), 300.0) == expected


def test_trending_ttl_never_exceeds_the_maximum_nor_goes_below_a_small_base() -> None:
    assert adaptive_ttl(ranking(0.0, 10_000), 500.0) == TRENDING_MAX_TTL_S
    assert adaptive_ttl(ranking(5.0, 10_000), 10.0) == 10.0
    assert adaptive_ttl([], 300.0) == 300.0


async def test_stale_trending_is_served_at_once_and_refreshed_in_the_background(
    db: Database, settings: Settings, namespace: str
) -> None:
    ids = await make_universe(db, 2, 2)
    app = create_app(cache_settings(settings, namespace, cache_ttl_overrides_s={"trending": 1}))
    async with serve(app) as client:
        cache = app.state.resources.cache
        first = await graphql(client, TRENDING)
        # New data that no ingest hook announced: only the TTL can bring it in.
        async with db.sessionmaker.begin() as session:
            await make_mentions(session, ids[0], [utcnow() - timedelta(minutes=1)] * 4)
        await asyncio.sleep(1.1)
        with count_statements() as log:
            stale = await graphql(client, TRENDING)
            trending_sql = [s for s in log.statements if "sentiment_buckets" in s]
        await cache.drain()
        fresh = await graphql(client, TRENDING)
    assert stale["data"] == first["data"]
    assert cache.stats["trending"].stale == 1
    assert cache.stats["trending"].loads == 2
    assert len(trending_sql) <= 1  # only the background refresh, never twice
    counts = {t["stock"]["symbol"]: t["mentionCount"] for t in fresh["data"]["trendingStocks"]}
    assert counts["S000"] == 6
