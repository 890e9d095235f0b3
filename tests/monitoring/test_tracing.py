"""The tracing extension: one log line per operation, slow-resolver warnings, Apollo tracing."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest
import strawberry
from graphql import GraphQLObjectType

from app.apikeys import create_key
from app.config import Settings
from app.db import Database
from app.main import create_app
from schema import build_schema
from schema.timing import TIMED
from tests.conftest import graphql, serve
from tests.factories.universe import make_universe
from tests.monitoring.conftest import Records
from tests.sqlcount import count_statements

# 10 stocks x 5 mentions: Query.stocks, 10 Stock.mentions, 50 Mention.stock, and 10
# Stock.sentiment: each stock's 5 mentions reach one Stock, whose selection is completed once
# (schema/compiled/objects.py, `reuse`); graphql-core would resolve its sentiment 5 times.
STOCKS, MENTIONS = 10, 5
CUSTOM_RESOLVERS = 1 + STOCKS + STOCKS * MENTIONS + STOCKS


async def post(client: httpx.AsyncClient, query: str, headers: dict[str, str]) -> dict[str, Any]:
    response = await client.post("/graphql", json={"query": query}, headers=headers)
    body: dict[str, Any] = response.json()
    return body


def custom_fields(tracing: dict[str, Any]) -> set[str]:
    return {r["fieldName"] for r in tracing["execution"]["resolvers"]}


async def test_mention_feed_logs_one_line_with_resolvers_sql_and_batches(
    db: Database, client: httpx.AsyncClient, operations: dict[str, str], trace_log: Records
) -> None:
    await make_universe(db, STOCKS, MENTIONS)
    with count_statements() as statements:
        body = await graphql(client, operations["MentionFeed"])
    assert "errors" not in body, body

    [line] = trace_log.data(logging.INFO)
    assert line["operation"] == "MentionFeed"
    assert len(line["document_hash"]) == 16
    assert line["resolvers"] == CUSTOM_RESOLVERS
    assert line["sql_statements"] == statements.count == 3
    assert line["sql_ms"] > 0
    batches = {(b["loader"], b["keys"]) for b in line["loader_batches"]}
    assert batches == {
        ("StockPageLoader", 1),
        ("MentionPageLoader", STOCKS),
        ("SentimentByStockLoader", STOCKS),
    }
    assert len(line["slowest_resolvers"]) == 5
    assert line["slowest_resolvers"][0]["path"].startswith("stocks")
    for phase in ("parse_ms", "validate_ms", "execute_ms"):
        assert line[phase] is not None and line[phase] >= 0
    assert line["errors"] == []
    # the points actually charged, as the response reports them
    assert line["cost"] == body["extensions"]["cost"]["actualQueryCost"] > 0


async def test_default_resolvers_are_not_timed(
    db: Database, client: httpx.AsyncClient, operations: dict[str, str]
) -> None:
    await make_universe(db, STOCKS, MENTIONS)
    body = await post(client, operations["MentionFeed"], {"X-Trace": "1"})
    tracing = body["extensions"]["tracing"]
    assert custom_fields(tracing) == {"stocks", "mentions", "stock", "sentiment"}
    assert len(tracing["execution"]["resolvers"]) == CUSTOM_RESOLVERS


async def test_resolver_over_the_threshold_gets_a_warning_with_its_path(
    db: Database, settings: Settings, operations: dict[str, str], trace_log: Records
) -> None:
    await make_universe(db, 2, 1)
    app = create_app(
        settings.model_copy(
            update={"trace_slow_resolver_ms": 1e-6, "trace_slow_resolver_lines": 100}
        )
    )
    async with serve(app) as client:
        body = await graphql(client, operations["MentionFeed"])
    assert "errors" not in body, body
    paths = {w["path"] for w in trace_log.data(logging.WARNING)}
    assert paths == {
        "stocks",
        "stocks.nodes.0.mentions",
        "stocks.nodes.1.mentions",
        "stocks.nodes.0.mentions.nodes.0.stock",
        "stocks.nodes.1.mentions.nodes.0.stock",
        "stocks.nodes.0.mentions.nodes.0.stock.sentiment",
        "stocks.nodes.1.mentions.nodes.0.stock.sentiment",
    }


async def test_slow_resolver_lines_are_capped_per_operation_slowest_first(
    db: Database, settings: Settings, operations: dict[str, str], trace_log: Records
) -> None:
    await make_universe(db, 2, 1)  # 7 resolvers, all slower than the threshold
    app = create_app(
        settings.model_copy(update={"trace_slow_resolver_ms": 1e-6, "trace_slow_resolver_lines": 3})
    )
    async with serve(app) as client:
        await graphql(client, operations["MentionFeed"])
    warnings = trace_log.data(logging.WARNING)
    [summary] = [w for w in warnings if "more_slow_resolvers" in w]
    listed = [w for w in warnings if "path" in w]
    assert summary["more_slow_resolvers"] == 4
    assert len(listed) == 3
    durations = [w["duration_ms"] for w in listed]
    assert durations == sorted(durations, reverse=True)


async def test_x_trace_gives_apollo_tracing_with_loader_batches_in_development(
    db: Database, client: httpx.AsyncClient, operations: dict[str, str]
) -> None:
    await make_universe(db, 2, 2)
    plain = await graphql(client, operations["MentionFeed"])
    assert "tracing" not in (plain.get("extensions") or {})

    with count_statements() as statements:  # the field cache may serve some loads now
        traced = await post(client, operations["MentionFeed"], {"X-Trace": "1"})
    tracing = traced["extensions"]["tracing"]
    assert tracing["version"] == 1
    assert tracing["duration"] > 0
    assert set(tracing["parsing"]) == {"startOffset", "duration"}
    first = tracing["execution"]["resolvers"][0]
    assert first["path"] == ["stocks"]
    assert first["parentType"] == "Query"
    assert first["returnType"] == "StockConnection!"
    loaders = [b["loader"] for b in tracing["execution"]["loaderBatches"]]
    assert sorted(loaders) == ["MentionPageLoader", "SentimentByStockLoader", "StockPageLoader"]
    assert tracing["sql"]["statements"] == statements.count


@pytest.mark.parametrize(("scopes", "traced"), [(["read"], False), (["read", "admin"], True)])
async def test_x_trace_in_production_needs_the_admin_scope(
    db: Database,
    settings: Settings,
    operations: dict[str, str],
    scopes: list[str],
    traced: bool,
) -> None:
    await make_universe(db, 1, 1)
    token, _ = await create_key(db, "ops", scopes=scopes)
    app = create_app(settings.model_copy(update={"app_env": "production"}))
    async with serve(app) as client:
        anonymous = await post(client, operations["MentionFeed"], {"X-Trace": "1"})
        keyed = await post(
            client, operations["MentionFeed"], {"X-Trace": "1", "Authorization": f"Bearer {token}"}
        )
    assert "tracing" not in (anonymous.get("extensions") or {})
    assert ("tracing" in (keyed.get("extensions") or {})) is traced


def is_timed(schema: strawberry.Schema, type_name: str, field_name: str) -> bool:
    graphql_type = schema._schema.type_map[type_name]
    assert isinstance(graphql_type, GraphQLObjectType)
    return bool(getattr(graphql_type.fields[field_name].resolve, TIMED, False))


def test_only_resolvers_with_code_are_wrapped_and_only_when_tracing_is_on() -> None:
    schema = build_schema(Settings(trace_enabled=True))
    assert is_timed(schema, "Query", "stocks")
    assert is_timed(schema, "Stock", "mentions")
    assert is_timed(schema, "Mention", "stock")
    assert not is_timed(schema, "Stock", "symbol")
    assert not is_timed(schema, "Mention", "text")
    assert not is_timed(schema, "PageInfo", "endCursor")
    assert not is_timed(build_schema(Settings(trace_enabled=False)), "Query", "stocks")
