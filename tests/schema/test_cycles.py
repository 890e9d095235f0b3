"""An answered request leaves nothing in reference cycles: its objects (executor, context,
loaders, statements, ASGI callables) go with their last reference, not with a full collection.

A worker's automatic full collections are off (app/runtime.py): under steady load whatever a
request left in a cycle waited in the oldest generation for the memory upkeep's forced pass,
which held the loop for ~0.5 s and left the heap fragmented (issue 19; bench/cycles.py prints
what is left and which code made it).
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson
import pytest
from fastapi import FastAPI

from app.config import Settings
from app.db import Database
from app.main import create_app
from bench.cycles import post, saved_garbage, subscribe_once
from schema.cursors import encode_stock
from tests.factories.universe import make_universe

OPERATIONS = ("StockDetail", "StockList", "PartnerScores", "Trending", "MentionFeed")
STOCKS = 40
WARM_UP = 3  # requests of each operation before measuring: every statement shape once
MEASURED = 12
# Objects per request a collection may find: on main before issue 19, 150 to 500.
BOUND = 1.0


def variables(name: str, i: int) -> dict[str, Any]:
    """The i-th request of an operation: values not asked before (a response cache miss, but
    for MentionFeed, which has none), through every shape of statement its loaders build."""
    symbol = f"S{i % STOCKS:03d}"
    if name == "StockDetail":
        return {"symbol": symbol if i % 4 else f"X{i:03d}"}  # some unknown
    if name == "PartnerScores":
        return {"symbols": [symbol, f"S{(i + 7) % STOCKS:03d}", f"X{i:03d}"]}
    if name == "StockList":
        shape: list[dict[str, Any]] = [{}, {"after": encode_stock(symbol)}, {"sector": "energy"}]
        return {"first": i + 1, **shape[i % 3]}
    if name == "Trending":
        return {"window": ("DAY", "HOUR", "WEEK")[i % 3], "limit": i + 1}
    return {}


def cycles_settings(settings: Settings, response_cache: bool, redis_url: str | None) -> Settings:
    """The app with or without the response cache; without it the loaders read the database on
    every request too, so each statement is built and run."""
    return settings.model_copy(
        update={
            "cache_response_enabled": response_cache,
            "cache_enabled": response_cache,
            "redis_url": redis_url,
            "memory_trim_interval_s": 0,
            # Its own namespace: another test's responses in Redis would make these hits.
            "cache_namespace": f"{settings.cache_namespace}-{uuid.uuid4().hex[:8]}",
        }
    )


async def answer(app: FastAPI, query: str, variables: dict[str, Any]) -> None:
    body = orjson.loads(await post(app, {"query": query, "variables": variables}))
    assert "errors" not in body, body["errors"]


async def left_per_request(app: FastAPI, name: str, query: str) -> float:
    for i in range(WARM_UP):  # the first requests fill what lives for the process
        await answer(app, query, variables(name, i))
    with saved_garbage() as garbage:
        for i in range(WARM_UP, WARM_UP + MEASURED):
            await answer(app, query, variables(name, i))
    return len(garbage) / MEASURED


async def left_by_operation(
    db: Database, settings: Settings, operations: dict[str, str]
) -> dict[str, float]:
    """Objects per request each reference operation left in cycles, above the bound."""
    await make_universe(db, STOCKS, 2)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        left = {name: await left_per_request(app, name, operations[name]) for name in OPERATIONS}
    return {name: n for name, n in left.items() if n > BOUND}


async def test_executed_reference_operations_leave_nothing_in_reference_cycles(
    db: Database, settings: Settings, operations: dict[str, str]
) -> None:
    executing = cycles_settings(settings, response_cache=False, redis_url=None)
    assert await left_by_operation(db, executing, operations) == {}


async def test_reference_operations_executed_by_graphql_core_leave_nothing_in_reference_cycles(
    db: Database, settings: Settings, operations: dict[str, str]
) -> None:
    executing = cycles_settings(settings, response_cache=False, redis_url=None)
    uncompiled = executing.model_copy(update={"executor_compiled": False})
    assert await left_by_operation(db, uncompiled, operations) == {}


async def test_cached_reference_operations_leave_nothing_in_reference_cycles(
    db: Database, settings: Settings, operations: dict[str, str]
) -> None:
    cached = cycles_settings(settings, response_cache=True, redis_url=None)
    assert await left_by_operation(db, cached, operations) == {}


async def test_reference_operations_cached_in_redis_leave_nothing_in_reference_cycles(
    db: Database, settings: Settings, operations: dict[str, str], redis_url: str
) -> None:
    cached = cycles_settings(settings, response_cache=True, redis_url=redis_url)
    assert await left_by_operation(db, cached, operations) == {}


async def test_closed_subscription_leaves_nothing_in_reference_cycles(
    db: Database, settings: Settings, operations: dict[str, str]
) -> None:
    if db.dialect == "sqlite":
        # Closed at once, the subscription is cancelled in its first read of the symbols, and
        # aiosqlite's connection, cancelled mid-call, is left for the collector (a ResourceWarning).
        pytest.skip("closed during its first SQLite read: aiosqlite leaves the connection")
    await make_universe(db, 2, 1)
    app = create_app(cycles_settings(settings, True, None))
    symbols = {"symbols": ["S000", "S001"]}
    live = [operations["LiveSentiment"], operations["LiveMentions"]]
    async with app.router.lifespan_context(app):
        for query in live:
            await subscribe_once(app, query, symbols)
        with saved_garbage() as garbage:
            for _ in range(MEASURED // len(live)):
                for query in live:
                    await subscribe_once(app, query, symbols)
    assert len(garbage) / MEASURED <= BOUND
