"""Cache warming: trending and the top stocks are cached before the first client asks."""

from __future__ import annotations

import asyncio

from app.config import Settings
from app.db import Database
from app.main import create_app
from tests.cache.conftest import cache_settings
from tests.conftest import graphql, serve
from tests.factories.universe import make_universe
from tests.sqlcount import count_statements


async def test_warming_on_start_caches_trending_and_the_top_stocks(
    db: Database, settings: Settings, namespace: str, operations: dict[str, str]
) -> None:
    await make_universe(db, 5, 3)
    app = create_app(cache_settings(settings, namespace, cache_warm_on_start=True))
    async with serve(app) as client:
        await asyncio.wait_for(app.state.warmer.warmed.wait(), timeout=30)
        with count_statements() as log:
            trending = await graphql(client, operations["Trending"])
            detail = await graphql(client, operations["StockDetail"], {"symbol": "S002"})
            listing = await graphql(client, operations["StockList"])
    assert "errors" not in trending and "errors" not in detail and "errors" not in listing
    assert len(trending["data"]["trendingStocks"]) == 5
    assert log.count == 0, log.statements


async def test_warming_runs_on_its_schedule_and_stops_with_the_app(
    db: Database, settings: Settings, namespace: str
) -> None:
    await make_universe(db, 2, 1)
    app = create_app(
        cache_settings(settings, namespace, cache_warm_on_start=False, cache_warm_interval_s=0.05)
    )
    async with serve(app):
        warmer = app.state.warmer
        for _ in range(200):
            if warmer.runs >= 2:
                break
            await asyncio.sleep(0.02)
        assert warmer.running
    assert warmer.runs >= 2
    assert not warmer.running


async def test_warming_is_off_when_asked(db: Database, settings: Settings, namespace: str) -> None:
    app = create_app(cache_settings(settings, namespace))
    async with serve(app):
        assert not app.state.warmer.running
        assert app.state.warmer.runs == 0
