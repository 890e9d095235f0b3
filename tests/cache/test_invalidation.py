"""An ingest makes every dependent cached field fresh on the next read, on every app instance."""

from __future__ import annotations

from datetime import timedelta

import redis.asyncio as redis

from app.config import Settings
from app.db import Database
from app.main import create_app
from app.resources import Resources
from app.timeutil import utcnow
from tests.cache.conftest import cache_settings
from tests.conftest import graphql, serve
from tests.factories.mentions import make_mentions
from tests.factories.universe import make_universe
from tests.sqlcount import count_statements

TRENDING = "query { trendingStocks(window: DAY, limit: 5) { mentionCount stock { symbol } } }"


async def test_ingest_on_one_instance_makes_the_next_read_on_another_fresh(
    db: Database,
    settings: Settings,
    namespace: str,
    redis_url: str,
    redis_client: redis.Redis,
    operations: dict[str, str],
) -> None:
    ids = await make_universe(db, 3, 2)
    shared = cache_settings(settings, namespace, redis_url=redis_url)
    writer_app, reader_app = create_app(shared), create_app(shared)
    detail, variables = operations["StockDetail"], {"symbol": "S001"}
    async with serve(writer_app) as writer, serve(reader_app) as reader:
        before = await graphql(writer, detail, variables)
        trending_before = await graphql(reader, TRENDING)
        with count_statements() as warm:
            assert (await graphql(reader, detail, variables))["data"] == before["data"]  # writer's
        assert warm.count == 0

        resources: Resources = writer_app.state.resources
        async with db.sessionmaker.begin() as session:
            stored = await make_mentions(
                session, ids[1], [utcnow() - timedelta(minutes=1)] * 3, text="$S001 wonderful"
            )
        await resources.mentions_stored(stored)

        after = await graphql(reader, detail, variables)
        trending_after = await graphql(reader, TRENDING)
        untouched = await graphql(reader, detail, {"symbol": "S000"})

    old, new = before["data"]["stock"], after["data"]["stock"]
    assert new["sentiment"]["mentionCount24h"] == old["sentiment"]["mentionCount24h"] + 3
    assert sum(p["mentionCount"] for p in new["sentimentHistory"]) == 5
    assert new["mentions"]["edges"][0]["node"]["text"] == "$S001 wonderful"
    counts = {
        t["stock"]["symbol"]: t["mentionCount"] for t in trending_after["data"]["trendingStocks"]
    }
    counts_before = {
        t["stock"]["symbol"]: t["mentionCount"] for t in trending_before["data"]["trendingStocks"]
    }
    assert counts["S001"] == counts_before["S001"] + 3
    assert untouched["data"]["stock"]["sentiment"]["mentionCount24h"] == 2


async def test_ingest_invalidates_the_in_process_cache_too(
    db: Database, settings: Settings, namespace: str, operations: dict[str, str]
) -> None:
    ids = await make_universe(db, 2, 1)
    app = create_app(cache_settings(settings, namespace))
    async with serve(app) as client:
        before = await graphql(client, operations["PartnerScores"], {"symbols": ["S000"]})
        async with db.sessionmaker.begin() as session:
            stored = await make_mentions(session, ids[0], [utcnow()])
        await app.state.resources.mentions_stored(stored)
        with count_statements() as log:
            after = await graphql(client, operations["PartnerScores"], {"symbols": ["S000"]})
    assert before["data"]["stocksBySymbols"][0]["sentiment"]["mentionCount24h"] == 1
    assert after["data"]["stocksBySymbols"][0]["sentiment"]["mentionCount24h"] == 2
    assert log.count == 1  # the stock is still cached; only its sentiment is read again
