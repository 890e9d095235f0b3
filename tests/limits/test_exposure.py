"""What the API reveals: introspection and hints in development only; internal errors masked."""

from __future__ import annotations

import logging

import httpx
import pytest
import strawberry
from graphql import get_introspection_query

from app.config import Settings
from app.db import Database
from app.main import create_app
from schema.errors import MaskInternalErrors
from tests.conftest import graphql, serve

INTROSPECTION = "{ __schema { queryType { name } } }"
TYPO = '{ stok(symbol: "AAPL") { symbol } }'


async def test_development_answers_introspection_and_suggests_fields(
    db: Database, client: httpx.AsyncClient
) -> None:
    body = await graphql(client, INTROSPECTION)
    assert body["data"] == {"__schema": {"queryType": {"name": "Query"}}}
    typo = await graphql(client, TYPO)
    assert "Did you mean 'stock'" in typo["errors"][0]["message"]


async def test_production_refuses_introspection_and_hides_suggestions(
    db: Database, settings: Settings
) -> None:
    production = settings.model_copy(update={"app_env": "production"})
    async with serve(create_app(production)) as client:
        body = await graphql(client, INTROSPECTION)
        assert "data" not in body  # a request error: nothing executed
        assert "introspection has been disabled" in body["errors"][0]["message"]
        assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
        typo = await graphql(client, TYPO)
        message = typo["errors"][0]["message"]
        assert message == "Cannot query field 'stok' on type 'Query'."
        ide = await client.get("/graphql", headers={"accept": "text/html"})
        assert ide.status_code == 404


@strawberry.type
class Fragile:
    @strawberry.field
    def broken(self) -> int:
        raise RuntimeError("connection string postgres://secret@db leaked")


def test_unexpected_errors_are_masked_with_an_id_that_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    schema = strawberry.Schema(query=Fragile, extensions=[MaskInternalErrors])
    with caplog.at_level(logging.ERROR, logger="insitechart.errors"):
        result = schema.execute_sync("{ broken }")
    assert result.errors is not None
    error = result.errors[0]
    assert error.message == "Internal server error"
    assert error.extensions is not None
    assert error.extensions["code"] == "INTERNAL_SERVER_ERROR"
    error_id = error.extensions["errorId"]
    assert error_id in caplog.text
    assert "secret" not in error.message


async def test_graphiql_introspection_passes_the_default_limits(
    db: Database, client: httpx.AsyncClient
) -> None:
    query = get_introspection_query(
        descriptions=True,
        specified_by_url=True,
        directive_is_repeatable=True,
        schema_description=True,
        input_value_deprecation=True,
    )
    body = await graphql(client, query)
    assert "errors" not in body, body["errors"][:2]
    assert body["data"]["__schema"]["queryType"]["name"] == "Query"
    assert body["extensions"]["cost"]["requestedQueryCost"] <= 2000
