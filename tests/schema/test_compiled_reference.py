"""The reference operations answer the same through the compiled executor and through
graphql-core's, over HTTP with every extension on, with the same SQL statements; plans are
cached and used; introspection goes to graphql-core."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from app.apikeys import create_key
from app.config import Settings
from app.db import Database
from app.main import create_app
from app.timeutil import utcnow
from bench.peers.operations import OPERATIONS, operation
from schema import build_schema
from schema.compiled import plan_cache
from tests.conftest import graphql, serve
from tests.factories.universe import make_universe
from tests.schema.differential import bare_schemas, execute
from tests.sqlcount import count_statements

STOCKS = 6


def variables_for(name: str) -> list[dict[str, Any]]:
    """Variable sets that take each operation through its values, nulls and errors."""
    sets: dict[str, list[dict[str, Any]]] = {
        "StockList": [{}, {"first": 2, "sector": "energy"}, {"first": 0}, {"after": "bad"}],
        "StockDetail": [{"symbol": "s001"}, {"symbol": "NONE"}, {"symbol": "bad symbol!"}],
        "PartnerScores": [{"symbols": ["S000", "nope", "S002"]}, {"symbols": ["S000", "x y"]}],
        "Trending": [{}, {"window": "HOUR", "limit": 2}, {"limit": 0}],
        "MentionFeed": [{}],
    }
    return sets[name]


def comparable(body: dict[str, Any]) -> dict[str, Any]:
    """The body but for what differs between any two runs: a masked error's random id, and the
    points the budget has restored meanwhile."""
    for error in body.get("errors") or ():
        if "errorId" in (error.get("extensions") or {}):
            error["extensions"]["errorId"] = "..."
    throttle = body.get("extensions", {}).get("cost", {}).get("throttleStatus", {})
    throttle.pop("currentlyAvailable", None)
    return body


@asynccontextmanager
async def both(settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    """Two apps on one database: compiled executor, graphql-core's; no response cache."""
    base = settings.model_copy(update={"cache_response_enabled": False})
    off = base.model_copy(update={"executor_compiled": False})
    async with serve(create_app(base)) as compiled, serve(create_app(off)) as reference:
        yield compiled, reference


async def answers(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any], **headers: str
) -> tuple[dict[str, Any], int]:
    with count_statements() as log:
        body = await graphql(client, query, variables, **headers)
    return comparable(body), log.count


async def test_reference_queries_answer_the_same_with_the_same_statements(
    db: Database, settings: Settings, operations: dict[str, str]
) -> None:
    await make_universe(db, STOCKS, 4)
    async with both(settings) as (compiled, reference):
        for name in ("StockList", "StockDetail", "PartnerScores", "Trending", "MentionFeed"):
            for variables in variables_for(name):
                expected = await answers(reference, operations[name], variables)
                got = await answers(compiled, operations[name], variables)
                assert got == expected, (name, variables)


async def test_benchmark_operations_answer_the_same(db: Database, settings: Settings) -> None:
    await make_universe(db, STOCKS, 4)
    rng = random.Random(18)
    async with both(settings) as (compiled, reference):
        for name in OPERATIONS:
            op = operation(name, "insitechart")
            variables = op.variables(rng, STOCKS)
            expected = await answers(reference, op.query, variables)
            assert "errors" not in expected[0]
            assert await answers(compiled, op.query, variables) == expected, name


def batch(prefix: str) -> list[dict[str, Any]]:
    at = utcnow().isoformat()
    return [
        {
            "source": "TWITTER",
            "externalId": f"{prefix}-1",
            "text": "$S000 great",
            "publishedAt": at,
        },
        {"source": "NEWS", "externalId": "bad", "text": "$NOPE is gone", "publishedAt": at},
        {
            "source": "TWITTER",
            "externalId": f"{prefix}-1",
            "text": "$S001 again",
            "publishedAt": at,
        },
    ]


async def test_ingest_mutation_answers_the_same(
    db: Database, settings: Settings, operations: dict[str, str]
) -> None:
    await make_universe(db, 2, 0)
    token, _ = await create_key(db, "pusher", scopes=["read", "ingest"])
    auth = {"Authorization": f"Bearer {token}"}
    async with both(settings) as (compiled, reference):
        # New external ids for each, so that neither sees the other's as duplicates.
        query = operations["IngestMentions"]
        expected, _ = await answers(reference, query, {"mentions": batch("r")}, **auth)
        got, _ = await answers(compiled, query, {"mentions": batch("c")}, **auth)
    assert expected["data"]["ingestMentions"]["accepted"] == 1
    assert got == expected


async def test_plans_are_cached_per_document_and_used(db: Database, settings: Settings) -> None:
    await make_universe(db, 2, 2)
    schema = build_schema(settings)
    cache = plan_cache(schema._schema)
    query = "query Q($s: String!) { stock(symbol: $s) { symbol sentiment { label } } }"
    first = await execute(schema, settings, db, utcnow(), query, {"s": "S000"})
    second = await execute(schema, settings, db, utcnow(), query, {"s": "S001"})
    assert first.formatted["data"]["stock"]["symbol"] == "S000"
    assert second.formatted["data"]["stock"]["symbol"] == "S001"
    assert (cache.compiled, cache.hits, cache.fallbacks) == (1, 1, 0)
    assert len(cache.entries) == 1
    assert all(entry.plans for entry in cache.entries.values())


async def test_a_skip_variable_gets_a_plan_of_its_own(db: Database, settings: Settings) -> None:
    await make_universe(db, 1, 1)
    schema = build_schema(settings)
    cache = plan_cache(schema._schema)
    query = 'query Q($b: Boolean!) { stock(symbol: "S000") { symbol name @skip(if: $b) } }'
    shown = await execute(schema, settings, db, utcnow(), query, {"b": False})
    hidden = await execute(schema, settings, db, utcnow(), query, {"b": True})
    again = await execute(schema, settings, db, utcnow(), query, {"b": True})
    assert shown.formatted["data"] == {"stock": {"symbol": "S000", "name": "S000 Inc."}}
    assert hidden.formatted["data"] == again.formatted["data"] == {"stock": {"symbol": "S000"}}
    assert (cache.compiled, cache.hits) == (2, 1)


@pytest.mark.parametrize(
    "query",
    [
        "{ __schema { queryType { name } } }",
        '{ __type(name: "Stock") { name fields { name } } }',
        '{ stock(symbol: "S000") { symbol } __schema { mutationType { name } } }',
    ],
)
async def test_introspection_goes_to_graphql_core(
    db: Database, settings: Settings, query: str
) -> None:
    await make_universe(db, 1, 0)
    schemas = bare_schemas()
    cache = plan_cache(schemas[0]._schema)
    now = utcnow()
    compiled = await execute(schemas[0], settings, db, now, query)
    reference = await execute(schemas[1], settings, db, now, query)
    assert compiled == reference
    assert "errors" not in compiled.formatted
    assert (cache.compiled, cache.fallbacks) == (0, 1)
