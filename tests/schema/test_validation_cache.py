"""Validation results kept by document identity (schema/validation.py)."""

from __future__ import annotations

import gc

import httpx
import pytest
from graphql import GraphQLSchema, parse, specified_rules

from app.config import Settings
from schema import build_schema
from schema.context import Context
from schema.validation import ValidatedDocuments

RULES = tuple(specified_rules)


def graphql_schema() -> GraphQLSchema:
    schema: GraphQLSchema = build_schema(
        Settings(database_url="sqlite+aiosqlite:///:memory:")
    )._schema
    return schema


def test_a_document_is_validated_once_and_found_by_identity() -> None:
    schema = graphql_schema()
    document = parse('{ stock(symbol: "A") { symbol nope } }')
    errors = ValidatedDocuments.validate(schema, document, RULES)
    assert [e.message for e in errors] == [
        "Cannot query field 'nope' on type 'Stock'. Did you mean 'name'?"
    ]
    assert ValidatedDocuments.validate(schema, document, RULES) is errors
    # The same text parsed again is another document: validated again (its hash is never taken).
    again = parse('{ stock(symbol: "A") { symbol nope } }')
    other = ValidatedDocuments.validate(schema, again, RULES)
    assert other is not errors and [e.message for e in other] == [e.message for e in errors]
    # Other rules, another verdict.
    assert ValidatedDocuments.validate(schema, document, ()) == []


def test_the_oldest_entry_goes_past_the_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    schema = graphql_schema()
    monkeypatch.setattr(ValidatedDocuments, "maxsize", 2)
    documents = [parse(f"{{ a{i}: __typename }}") for i in range(3)]
    first = [ValidatedDocuments.validate(schema, d, RULES) for d in documents]
    assert len(ValidatedDocuments._entries) <= 2
    assert ValidatedDocuments.validate(schema, documents[2], RULES) is first[2]
    assert ValidatedDocuments.validate(schema, documents[0], RULES) is not first[0]


async def test_a_kept_verdict_keeps_no_request_alive(client: httpx.AsyncClient) -> None:
    """`symbol: 1` fails to coerce inside the validator: its error's original exception carried
    the traceback of the request that validated it first, and with it that request's context."""
    query = "{ stock(symbol: 1) { symbol } }"
    for _ in range(2):
        body = (await client.post("/graphql", json={"query": query})).json()
        assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    gc.collect()
    assert not [o for o in gc.get_objects() if isinstance(o, Context)]
