"""No N+1: the statements an operation runs do not grow with the number of stocks or mentions."""

from __future__ import annotations

import httpx
import pytest

from app.db import Database
from tests.conftest import graphql
from tests.factories.universe import make_universe
from tests.sqlcount import count_statements

# One statement per loader level: the value each reference operation must hold to.
EXPECTED = {
    # stocks page -> mention pages -> (mention.stock primed by the page) -> sentiment
    "MentionFeed": 3,
    # stocks page -> sentiment
    "StockList": 2,
    # stock by symbol -> sentiment + hourly history + mention page
    "StockDetail": 4,
    # ranking (primes the stocks) -> sentiment + mention pages
    "Trending": 3,
    # stocks by symbol -> sentiment
    "PartnerScores": 2,
}


def variables_for(name: str, stocks: int) -> dict[str, object]:
    if name == "StockDetail":
        return {"symbol": "S000"}
    if name == "PartnerScores":
        return {"symbols": [f"S{i:03d}" for i in range(min(stocks, 100))]}
    return {}


async def run_counted(
    client: httpx.AsyncClient, query: str, variables: dict[str, object]
) -> tuple[int, dict[str, object]]:
    with count_statements() as log:
        body = await graphql(client, query, variables)
    return log.count, body


@pytest.mark.parametrize("name", sorted(EXPECTED))
@pytest.mark.parametrize(("stocks", "mentions"), [(1, 1), (10, 20), (100, 20)])
async def test_reference_operation_runs_one_statement_per_loader_level(
    db: Database,
    client: httpx.AsyncClient,
    operations: dict[str, str],
    name: str,
    stocks: int,
    mentions: int,
) -> None:
    await make_universe(db, stocks, mentions)
    count, body = await run_counted(client, operations[name], variables_for(name, stocks))
    assert "errors" not in body, body
    assert count == EXPECTED[name]
