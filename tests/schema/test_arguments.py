"""Invalid arguments are refused with BAD_USER_INPUT, naming the field and limit, before any SQL."""

from __future__ import annotations

import httpx
import pytest

from app.db import Database
from tests.conftest import graphql
from tests.sqlcount import count_statements

CASES = [
    ("{ stocks(first: 0) { nodes { symbol } } }", "first", "between 1 and 100"),
    ("{ stocks(first: 101) { nodes { symbol } } }", "first", "between 1 and 100"),
    ('{ stocks(after: "garbage!") { nodes { symbol } } }', "after", "not a valid cursor"),
    ('{ stock(symbol: "AAPL; DROP TABLE stocks") { id } }', "symbol", "1 to 16 letters"),
    ("{ trendingStocks(limit: 500) { rank } }", "limit", "between 1 and 100"),
    ('{ mention(id: "abc") { id } }', "id", "not a mention id"),
    ('{ stocks(search: "' + "x" * 65 + '") { nodes { symbol } } }', "search", "longer than 64"),
]


@pytest.mark.parametrize(("query", "field", "message"), CASES)
async def test_invalid_root_argument_is_refused_before_sql(
    db: Database, client: httpx.AsyncClient, query: str, field: str, message: str
) -> None:
    with count_statements() as log:
        body = await graphql(client, query)
    assert log.count == 0
    error = body["errors"][0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["field"] == field
    assert message in error["message"]


async def test_more_than_100_symbols_is_refused_naming_the_limit(
    db: Database, client: httpx.AsyncClient, operations: dict[str, str]
) -> None:
    symbols = [f"S{i}" for i in range(101)]
    with count_statements() as log:
        body = await graphql(client, operations["PartnerScores"], {"symbols": symbols})
    assert log.count == 0
    assert body["data"] is None
    error = body["errors"][0]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "symbols", "max": 100}


@pytest.mark.parametrize(
    ("args", "field"),
    [("first: 0", "first"), ("first: 101", "first"), ('after: "bm9wZQ"', "after")],
)
async def test_invalid_mention_page_argument_is_refused_with_its_field(
    db: Database, client: httpx.AsyncClient, args: str, field: str
) -> None:
    from tests.factories.stocks import make_stock

    async with db.sessionmaker.begin() as session:
        await make_stock(session, "AAA")
    body = await graphql(
        client, f'{{ stock(symbol: "AAA") {{ mentions({args}) {{ nodes {{ id }} }} }} }}'
    )
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert body["errors"][0]["extensions"]["field"] == field


async def test_history_longer_than_720_buckets_is_refused(
    db: Database, client: httpx.AsyncClient
) -> None:
    from tests.factories.stocks import make_stock

    async with db.sessionmaker.begin() as session:
        await make_stock(session, "AAA")
    body = await graphql(
        client, '{ stock(symbol: "AAA") { sentimentHistory(last: 721) { mentionCount } } }'
    )
    error = body["errors"][0]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "last", "min": 1, "max": 720}
