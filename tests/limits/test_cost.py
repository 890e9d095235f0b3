"""Cost analysis: reference operation figures, declared weights, and the max-cost refusal."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
import strawberry
from graphql import OperationDefinitionNode

from app.config import Settings
from app.db import Database
from app.timeutil import utcnow
from schema.cost import CostAnalysis, select_operation
from schema.limits import parse_document
from tests.conftest import graphql
from tests.factories.mentions import make_mentions
from tests.factories.stocks import make_stock
from tests.sqlcount import count_statements

# Worked out by hand from docs/LIMITS.md (objects 1, scalars 0, lists x their size, edges free):
REFERENCE_COSTS = {
    # stocks 1 + pageInfo 1 + 50 nodes x (node 1 + sentiment 1)
    "StockList": 102,
    # stocks 1 + 50 x (node 1 + mentions 1 + 10 x (mention 1 + stock 1 + sentiment 1))
    "MentionFeed": 1601,
    # 20 x (trending 1 + stock 1 + sentiment 1 + mentions 1 + 3 mentions)
    "Trending": 140,
    # stock 1 + sentiment 1 + 48 points + mentions 1 + pageInfo 1 + 20 x (edge 0 + node 1)
    "StockDetail": 72,
    # 3 symbols x (stock 1 + sentiment 1)
    "PartnerScores": 6,
}
VARIABLES: dict[str, dict[str, Any]] = {
    "StockDetail": {"symbol": "AAPL"},
    "PartnerScores": {"symbols": ["AAPL", "MSFT", "NVDA"]},
}


def cost_of(body: dict[str, Any]) -> dict[str, Any]:
    cost: dict[str, Any] = body["extensions"]["cost"]
    return cost


@pytest.mark.parametrize("name", sorted(REFERENCE_COSTS))
async def test_reference_operations_have_the_cost_worked_out_by_hand(
    name: str, operations: dict[str, str], db: Database, client: httpx.AsyncClient
) -> None:
    body = await graphql(client, operations[name], VARIABLES.get(name, {}))
    assert "errors" not in body, body
    assert cost_of(body)["requestedQueryCost"] == REFERENCE_COSTS[name]


async def test_cost_follows_the_variables_of_each_request(
    operations: dict[str, str], db: Database, client: httpx.AsyncClient
) -> None:
    body = await graphql(client, operations["StockList"], {"first": 10})
    assert cost_of(body)["requestedQueryCost"] == 1 + 1 + 10 * 2
    body = await graphql(client, operations["Trending"], {"limit": 5})
    assert cost_of(body)["requestedQueryCost"] == 5 * 7


async def test_actual_cost_counts_what_was_returned(
    operations: dict[str, str], db: Database, client: httpx.AsyncClient
) -> None:
    async with db.sessionmaker.begin() as session:
        aapl = await make_stock(session, "AAPL")
        await make_stock(session, "MSFT")
        await make_mentions(session, aapl.id, [utcnow() - timedelta(minutes=5)])
    body = await graphql(client, operations["StockList"])
    assert len(body["data"]["stocks"]["nodes"]) == 2
    # stocks 1 + pageInfo 1 + AAPL (1 + sentiment 1) + MSFT (1, no sentiment)
    assert cost_of(body)["actualQueryCost"] == 5
    assert cost_of(body)["requestedQueryCost"] == 102


async def test_every_response_reports_the_throttle_status(client: httpx.AsyncClient) -> None:
    body = await graphql(client, "{ __typename }")
    settings = Settings()
    assert cost_of(body) == {
        "requestedQueryCost": 0,
        "actualQueryCost": 0,
        "throttleStatus": {
            "maximumAvailable": settings.budget_anonymous_capacity,
            "currentlyAvailable": settings.budget_anonymous_capacity,
            "restoreRate": settings.budget_anonymous_restore_per_s,
        },
    }


async def test_a_query_over_the_max_cost_is_refused_before_any_sql(
    db: Database, client: httpx.AsyncClient
) -> None:
    async with db.sessionmaker.begin() as session:
        await make_stock(session, "AAPL")
    query = "{ stocks(first: 100) { nodes { mentions(first: 100) { nodes { text } } } } }"
    with count_statements() as sql:
        body = await graphql(client, query)
    assert sql.count == 0
    assert "data" not in body  # a request error: nothing executed
    limit = min(Settings().cost_max_query, Settings().budget_anonymous_capacity)
    assert body["errors"][0]["extensions"] == {
        "code": "MAX_COST_EXCEEDED",
        "cost": 1 + 100 * (1 + 1 + 100),
        "limit": limit,
    }
    assert f"exceeds the limit of {limit}" in body["errors"][0]["message"]


@strawberry.type
class Quote:
    price: float
    volume: int = strawberry.field(metadata={"cost": 2})


@strawberry.type
class Item:
    name: str

    @strawberry.field(metadata={"cost": 5})  # type: ignore[untyped-decorator]
    def quote(self) -> Quote:
        return Quote(price=1.0, volume=1)


@strawberry.type
class WeightedQuery:
    @strawberry.field
    def items(self, first: int = 3) -> list[Item]:
        return [Item(name=str(i)) for i in range(first)]


@strawberry.type
class WeightedMutation:
    @strawberry.mutation(metadata={"cost": 10})  # type: ignore[untyped-decorator]
    def ingest(self, names: list[str]) -> int:
        return len(names)


def test_cost_metadata_beside_a_field_replaces_the_default_weight() -> None:
    schema = strawberry.Schema(query=WeightedQuery, mutation=WeightedMutation)
    document = parse_document("query { items(first: 4) { name quote { price volume } } }", 1000)
    analysis = CostAnalysis(schema._schema, document, default_list_size=10)
    operation = select_operation(document, None)
    assert isinstance(operation, OperationDefinitionNode)
    # 4 items x (item 1 + quote 5 + volume 2)
    assert analysis.requested(operation, {}) == 4 * (1 + 5 + 2)
    result = schema.execute_sync("query { items(first: 2) { name quote { price volume } } }")
    executed = parse_document("query { items(first: 2) { name quote { price volume } } }", 1000)
    measured = CostAnalysis(schema._schema, executed, default_list_size=10)
    actual_operation = select_operation(executed, None)
    assert isinstance(actual_operation, OperationDefinitionNode)
    assert measured.actual(actual_operation, result.data) == 2 * (1 + 5 + 2)

    mutation = parse_document('mutation { ingest(names: ["a", "b"]) }', 1000)
    mutation_operation = select_operation(mutation, None)
    assert isinstance(mutation_operation, OperationDefinitionNode)
    assert CostAnalysis(schema._schema, mutation, 10).requested(mutation_operation, {}) == 10


def test_an_object_at_several_positions_costs_at_each() -> None:
    # The compiled executor gives an object reached again the same dict (a feed's mentions of
    # one stock): the walk remembers its cost, and still counts it at every position.
    schema = strawberry.Schema(query=WeightedQuery, mutation=WeightedMutation)
    text = "query { items(first: 3) { name quote { price volume } } }"
    document = parse_document(text, 1000)
    operation = select_operation(document, None)
    assert isinstance(operation, OperationDefinitionNode)
    quote = {"price": 1.0, "volume": 2}
    shared = {"items": [{"name": str(i), "quote": quote} for i in range(3)]}
    copied = {"items": [{"name": str(i), "quote": dict(quote)} for i in range(3)]}
    one_item = {"items": [{"name": "0", "quote": quote}]}
    analysis = CostAnalysis(schema._schema, document, default_list_size=10)
    assert analysis.actual(operation, shared) == analysis.actual(operation, copied) == 3 * 8
    assert analysis.actual(operation, one_item) == 8
