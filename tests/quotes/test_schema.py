"""`Stock.quote` through GraphQL: one loader batch per list, null plus an error when it fails."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from strawberry.types.base import StrawberryObjectDefinition

from app.config import Settings
from app.db import Database
from app.main import create_app
from app.quotes.cache import CachedProvider
from app.quotes.finnhub import FinnhubProvider
from app.quotes.simulated import simulate
from schema import build_schema
from schema.types import QUOTE_COST
from tests.conftest import graphql, serve
from tests.factories.universe import make_universe
from tests.quotes.helpers import RecordingProvider
from tests.quotes.upstream import Behaviour, Upstream, running_upstream

STOCKS_WITH_QUOTES = """
query StocksWithQuotes($first: Int!) {
  stocks(first: $first) {
    nodes {
      symbol
      name
      quote { price change changePercent open high low previousClose asOf source }
    }
  }
}
"""


@pytest.fixture
async def upstream() -> AsyncIterator[Upstream]:
    async with running_upstream() as server:
        yield server


def with_finnhub(settings: Settings, upstream: Upstream, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        **settings.model_dump(),
        "quotes_provider": "finnhub",
        "quotes_base_url": upstream.url,
        "quotes_token": "test-token",
        "quotes_backoff_base_ms": 1,
        "quotes_backoff_max_ms": 5,
        **overrides,
    }
    return Settings(**values)  # validated, unlike model_copy


async def test_stock_list_with_quotes_makes_one_loader_batch(
    db: Database, settings: Settings, upstream: Upstream
) -> None:
    await make_universe(db, 50, 0)
    app = create_app(with_finnhub(settings, upstream))
    async with serve(app) as client:
        recorder = RecordingProvider(app.state.resources.quotes)
        app.state.resources.quotes = recorder
        body = await graphql(client, STOCKS_WITH_QUOTES, {"first": 50})
    assert "errors" not in body, body
    nodes = body["data"]["stocks"]["nodes"]
    assert len(nodes) == 50
    assert all(n["quote"]["source"] == "FINNHUB" and n["quote"]["price"] > 0 for n in nodes)
    assert recorder.batches == [50]
    assert upstream.requests == 50


async def test_failed_quote_is_null_with_upstream_unavailable_and_the_rest_intact(
    db: Database, settings: Settings, upstream: Upstream
) -> None:
    await make_universe(db, 3, 0)
    upstream.behaviour = Behaviour(status=503, failures=100, only=frozenset({"S001"}))
    async with serve(create_app(with_finnhub(settings, upstream, quotes_retries=1))) as client:
        body = await graphql(client, STOCKS_WITH_QUOTES, {"first": 3})
    nodes = body["data"]["stocks"]["nodes"]
    assert [n["symbol"] for n in nodes] == ["S000", "S001", "S002"]
    assert nodes[1]["quote"] is None and nodes[1]["name"] == "S001 Inc."
    assert nodes[0]["quote"]["price"] > 0 and nodes[2]["quote"]["price"] > 0
    [error] = body["errors"]
    assert error["path"] == ["stocks", "nodes", 1, "quote"]
    assert error["extensions"] == {"code": "UPSTREAM_UNAVAILABLE", "symbol": "S001"}
    assert upstream.by_symbol["S001"] == 2


async def test_default_provider_serves_simulated_quotes(db: Database, client: Any) -> None:
    await make_universe(db, 2, 0)
    body = await graphql(client, STOCKS_WITH_QUOTES, {"first": 2})
    assert "errors" not in body, body
    for node in body["data"]["stocks"]["nodes"]:
        quote = node["quote"]
        assert quote["source"] == "SIMULATED"
        assert quote["low"] <= quote["price"] <= quote["high"]
        assert quote["price"] > 0


def test_simulated_walk_is_deterministic_per_symbol_and_time() -> None:
    at = datetime(2026, 3, 2, 15, 37, tzinfo=UTC)
    first = simulate("AAPL", at)
    assert simulate("AAPL", at) == first
    assert simulate("MSFT", at) != first
    assert first.low <= first.price <= first.high
    assert first.change == pytest.approx(first.price - first.previous_close, abs=1e-3)
    assert first.as_of == datetime(2026, 3, 2, 15, 35, tzinfo=UTC)
    assert first.source == "SIMULATED"


async def test_the_app_closes_the_shared_http_client_on_shutdown(
    db: Database, settings: Settings, upstream: Upstream
) -> None:
    app = create_app(with_finnhub(settings, upstream))
    async with serve(app):
        provider = app.state.resources.quotes
        assert isinstance(provider, CachedProvider)
        assert isinstance(provider.upstream, FinnhubProvider)
        client = provider.upstream.client
        assert not client.is_closed
    assert client.is_closed


def test_quote_field_declares_its_cost_for_the_cost_rule() -> None:
    schema = build_schema(Settings())
    stock = schema.get_type_by_name("Stock")
    assert isinstance(stock, StrawberryObjectDefinition)
    [field] = [f for f in stock.fields if f.python_name == "quote"]
    assert field.metadata == {"cost": QUOTE_COST}
    assert QUOTE_COST > 1  # an upstream call weighs more than a field of a loaded row
