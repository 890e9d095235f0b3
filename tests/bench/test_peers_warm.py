"""The peers harness's warm cell measures hits: every request it draws was stored before it
started, so its answers are all response-cache hits (the cold cell's first draws are misses)."""

from __future__ import annotations

import pytest

from app.config import Settings
from app.db import Database
from bench.peers.load import CellSpec, drive
from bench.peers.operations import operation
from tests.cache.conftest import cache_settings
from tests.factories.universe import make_universe
from tests.liveserver import live_server

STOCKS = 12


@pytest.mark.parametrize("prewarm", [False, True])
async def test_a_prewarmed_cell_answers_every_request_from_the_response_cache(
    db: Database, settings: Settings, prewarm: bool
) -> None:
    await make_universe(db, STOCKS, 2)
    served = cache_settings(
        settings, "peers-warm", cache_response_enabled=True, budget_anonymous_restore_per_s=1e9
    )
    async with live_server(served) as server:
        spec = CellSpec(
            url=server.http_url,
            name="StockDetail",
            query=operation("StockDetail", "app").query,
            concurrency=4,
            duration_s=30.0,
            max_requests=80,
            warmup_requests=5,
            stocks=STOCKS,
            seed=1000,
            prewarm=prewarm,
        )
        result = await drive(spec)
    cell = result["ops"]["StockDetail"]
    assert cell["requests"] == 80 and cell["errors"] == 0
    if prewarm:
        assert cell["cache_hits"] == 80
    else:
        assert cell["cache_misses"] > 0  # each symbol's first draw executes
