"""Each static limit refuses its abuse with its code, before any SQL or resolver runs."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from graphql import FragmentDefinitionNode, OperationDefinitionNode

from app.config import Settings
from app.db import Database
from schema.limits import DocumentShape, StaticLimits, parse_document
from tests.conftest import graphql
from tests.factories.stocks import make_stock
from tests.sqlcount import count_statements

DEFAULTS = StaticLimits.from_settings(Settings())


def codes(body: dict[str, Any]) -> list[str]:
    return [e.get("extensions", {}).get("code") for e in body.get("errors", [])]


async def refused(client: httpx.AsyncClient, db: Database, query: str) -> dict[str, Any]:
    """Send `query` with a stock stored, and check that nothing reached the database."""
    async with db.sessionmaker.begin() as session:
        await make_stock(session, "AAPL")
    with count_statements() as sql:
        body = await graphql(client, query)
    assert sql.count == 0, sql.statements
    assert body.get("data") is None
    return body


def test_every_reference_operation_is_within_the_default_limits(
    operations: dict[str, str],
) -> None:
    assert len(operations) >= 8
    for name, text in operations.items():
        document = parse_document(text, DEFAULTS.max_tokens)
        assert len(text.encode()) <= DEFAULTS.max_document_bytes, name
        fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        shape = DocumentShape(fragments)
        for op in document.definitions:
            if isinstance(op, OperationDefinitionNode):
                assert shape.depth(op.selection_set) <= DEFAULTS.max_depth, name
                assert shape.aliases(op.selection_set) <= DEFAULTS.max_aliases, name
                assert shape.root_fields(op.selection_set) <= DEFAULTS.max_root_fields, name
                assert shape.selections(op.selection_set) <= DEFAULTS.max_selections, name


def test_depth_counts_through_fragments_and_skips_introspection() -> None:
    document = parse_document(
        'query { stock(symbol: "A") { ...S } __schema { types { fields { type { ofType '
        "{ ofType { name } } } } } } } "
        "fragment S on Stock { mentions { nodes { stock { symbol } } } }",
        DEFAULTS.max_tokens,
    )
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    op = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
    assert DocumentShape(fragments).depth(op.selection_set) == 5


async def test_101_aliases_are_refused(db: Database, client: httpx.AsyncClient) -> None:
    fields = " ".join(f'a{i}: stock(symbol: "AAPL") {{ symbol }}' for i in range(101))
    body = await refused(client, db, f"{{ {fields} }}")
    error = next(e for e in body["errors"] if e["extensions"]["code"] == "MAX_ALIASES_EXCEEDED")
    assert error["extensions"]["limit"] == DEFAULTS.max_aliases
    assert error["extensions"]["value"] == 101


async def test_depth_20_is_refused(db: Database, client: httpx.AsyncClient) -> None:
    inner = "symbol"
    for _ in range(6):
        inner = f"mentions {{ nodes {{ stock {{ {inner} }} }} }}"
    query = f'{{ stock(symbol: "AAPL") {{ {inner} }} }}'
    body = await refused(client, db, query)
    assert codes(body) == ["MAX_DEPTH_EXCEEDED"]
    assert body["errors"][0]["extensions"] == {
        "code": "MAX_DEPTH_EXCEEDED",
        "limit": DEFAULTS.max_depth,
        "value": 20,
    }
    assert "depth 20 exceeds the limit of 10" in body["errors"][0]["message"]


async def test_depth_hidden_in_fragments_is_refused(
    db: Database, client: httpx.AsyncClient
) -> None:
    query = (
        '{ stock(symbol: "AAPL") { ...A } } '
        "fragment A on Stock { mentions { nodes { stock { ...B } } } } "
        "fragment B on Stock { mentions { nodes { stock { ...C } } } } "
        "fragment C on Stock { mentions { nodes { stock { ...D } } } } "
        "fragment D on Stock { mentions { nodes { stock { symbol } } } }"
    )
    body = await refused(client, db, query)
    assert codes(body) == ["MAX_DEPTH_EXCEEDED"]


async def test_a_one_megabyte_document_is_refused(db: Database, client: httpx.AsyncClient) -> None:
    query = '{ stock(symbol: "AAPL") { symbol } }' + " " * 1_000_000
    body = await refused(client, db, query)
    assert codes(body) == ["DOCUMENT_TOO_LARGE"]
    assert body["errors"][0]["extensions"]["limit"] == DEFAULTS.max_document_bytes


async def test_too_many_tokens_are_refused(db: Database, client: httpx.AsyncClient) -> None:
    # Within the byte limit, but 2,100+ tokens: the parser aborts before building the document.
    query = "{ " + "__typename " * 2100 + "}"
    assert len(query) < DEFAULTS.max_document_bytes
    body = await refused(client, db, query)
    assert codes(body) == ["MAX_TOKENS_EXCEEDED"]
    assert body["errors"][0]["extensions"]["limit"] == DEFAULTS.max_tokens


async def test_too_many_root_fields_are_refused(db: Database, client: httpx.AsyncClient) -> None:
    fields = " ".join(f'r{i}: stock(symbol: "AAPL") {{ symbol }}' for i in range(21))
    body = await refused(client, db, f"{{ {fields} }}")
    assert codes(body) == ["MAX_ROOT_FIELDS_EXCEEDED"]
    assert body["errors"][0]["extensions"]["value"] == 21


async def test_too_many_directives_on_a_field_are_refused(
    db: Database, client: httpx.AsyncClient
) -> None:
    directives = " ".join(["@include(if: true)"] * 6)
    body = await refused(client, db, f'{{ stock(symbol: "AAPL") {directives} {{ symbol }} }}')
    assert "MAX_DIRECTIVES_EXCEEDED" in codes(body)


@pytest.mark.parametrize("name", ["StockList", "MentionFeed", "Trending", "StockDetail"])
async def test_reference_queries_run_under_default_limits(
    name: str, operations: dict[str, str], db: Database, client: httpx.AsyncClient
) -> None:
    body = await graphql(
        client, operations[name], {"symbol": "AAPL"} if name == "StockDetail" else {}
    )
    assert "errors" not in body, body
    assert body["data"] is not None
