"""The reference operations, verbatim, return what was stored."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from app.db import Database
from app.sentiment import score_text
from app.timeutil import utcnow
from tests.conftest import graphql
from tests.factories.mentions import make_mentions
from tests.factories.stocks import make_stock

UP = "$SYM is amazing, great earnings, love it"
DOWN = "$SYM is a horrible disaster, awful losses"
FLAT = "$SYM closed at the same price as yesterday"


async def market(db: Database) -> dict[str, int]:
    """AAA: 3 positive mentions; BBB: 2 negative; CCC: none; DDD: 1 neutral (other sector)."""
    now = utcnow()
    ids = {}
    async with db.sessionmaker.begin() as session:
        for symbol, sector in [
            ("AAA", "Tech"),
            ("BBB", "Tech"),
            ("CCC", "Tech"),
            ("DDD", "Energy"),
        ]:
            ids[symbol] = (await make_stock(session, symbol, sector=sector)).id
        minutes = [timedelta(minutes=m) for m in (5, 65, 125)]
        await make_mentions(
            session, ids["AAA"], [now - m for m in minutes], UP.replace("SYM", "AAA")
        )
        await make_mentions(session, ids["BBB"], [now - m for m in minutes[:2]], DOWN)
        await make_mentions(session, ids["DDD"], [now - minutes[0]], FLAT, source="NEWS")
    return ids


async def test_stock_list_pages_in_symbol_order_with_24h_sentiment(
    db: Database, client: httpx.AsyncClient, operations: dict[str, str]
) -> None:
    await market(db)
    first = await graphql(client, operations["StockList"], {"first": 2, "sector": "tech"})
    page = first["data"]["stocks"]
    assert [n["symbol"] for n in page["nodes"]] == ["AAA", "BBB"]
    assert page["pageInfo"]["hasNextPage"] is True
    aaa, bbb = page["nodes"]
    assert aaa["sentiment"]["mentionCount24h"] == 3
    assert aaa["sentiment"]["positiveMentions"] == 3
    assert aaa["sentiment"]["label"] == "POSITIVE"
    assert (
        abs(aaa["sentiment"]["compoundScore"] - score_text(UP.replace("SYM", "AAA")).compound)
        < 1e-4
    )
    assert bbb["sentiment"]["negativeMentions"] == 2
    assert bbb["sentiment"]["label"] == "NEGATIVE"

    after = page["pageInfo"]["endCursor"]
    second = await graphql(
        client, operations["StockList"], {"first": 2, "sector": "Tech", "after": after}
    )
    rest = second["data"]["stocks"]
    assert [n["symbol"] for n in rest["nodes"]] == ["CCC"]
    assert rest["nodes"][0]["sentiment"] is None
    assert rest["pageInfo"] == {"hasNextPage": False, "endCursor": rest["pageInfo"]["endCursor"]}


async def test_mention_feed_lists_newest_mentions_of_each_stock_back_to_their_stock(
    db: Database, client: httpx.AsyncClient, operations: dict[str, str]
) -> None:
    await market(db)
    body = await graphql(client, operations["MentionFeed"])
    nodes = body["data"]["stocks"]["nodes"]
    by_symbol = {n["symbol"]: n["mentions"]["nodes"] for n in nodes}
    assert [len(by_symbol[s]) for s in ("AAA", "BBB", "CCC", "DDD")] == [3, 2, 0, 1]
    times = [m["publishedAt"] for m in by_symbol["AAA"]]
    assert times == sorted(times, reverse=True)
    for symbol, mentions in by_symbol.items():
        for m in mentions:
            assert m["stock"]["symbol"] == symbol
            assert m["stock"]["sentiment"]["label"] in {"POSITIVE", "NEGATIVE", "NEUTRAL"}


async def test_stock_detail_gives_header_48_hourly_points_and_latest_mentions(
    db: Database, client: httpx.AsyncClient, operations: dict[str, str]
) -> None:
    await market(db)
    body = await graphql(client, operations["StockDetail"], {"symbol": "aaa"})
    stock = body["data"]["stock"]
    assert stock["symbol"] == "AAA"
    assert stock["sector"] == "Tech"
    history = stock["sentimentHistory"]
    assert len(history) == 48
    starts = [p["bucketStart"] for p in history]
    assert starts == sorted(starts)
    assert sum(p["mentionCount"] for p in history) == 3
    edges = stock["mentions"]["edges"]
    assert len(edges) == 3
    assert stock["mentions"]["pageInfo"]["hasNextPage"] is False
    assert all(e["node"]["label"] == "POSITIVE" for e in edges)
    assert edges[-1]["cursor"] == stock["mentions"]["pageInfo"]["endCursor"]


async def test_trending_ranks_the_busiest_stock_first_with_its_change(
    db: Database, client: httpx.AsyncClient, operations: dict[str, str]
) -> None:
    ids = await market(db)
    now = utcnow()
    async with db.sessionmaker.begin() as session:
        # BBB had 4 mentions the day before: its volume fell, AAA's rose from nothing.
        await make_mentions(session, ids["BBB"], [now - timedelta(hours=30)] * 4, DOWN)
    body = await graphql(client, operations["Trending"], {"window": "DAY", "limit": 3})
    ranking = body["data"]["trendingStocks"]
    assert [(r["rank"], r["stock"]["symbol"]) for r in ranking] == [
        (1, "AAA"),
        (2, "BBB"),
        (3, "DDD"),
    ]
    aaa, bbb, _ = ranking
    assert aaa["mentionCount"] == 3
    assert aaa["mentionChange"] == 3.0  # (3 - 0) / max(0, 1)
    assert bbb["mentionCount"] == 2
    assert bbb["mentionChange"] == -0.5  # (2 - 4) / 4
    assert len(aaa["stock"]["mentions"]["nodes"]) == 3
    assert aaa["stock"]["sentiment"]["label"] == "POSITIVE"


async def test_partner_scores_keep_the_order_asked_with_null_for_unknown(
    db: Database, client: httpx.AsyncClient, operations: dict[str, str]
) -> None:
    await market(db)
    body = await graphql(client, operations["PartnerScores"], {"symbols": ["ddd", "NOPE", "AAA"]})
    result: list[Any] = body["data"]["stocksBySymbols"]
    assert result[1] is None
    assert result[0]["symbol"] == "DDD"
    assert result[0]["sentiment"]["mentionCount24h"] == 1
    assert result[2]["symbol"] == "AAA"
    assert result[2]["sentiment"]["mentionCount24h"] == 3


async def test_mention_by_id_and_unknown_stock_give_the_row_or_null(
    db: Database, client: httpx.AsyncClient
) -> None:
    await market(db)
    feed = await graphql(client, '{ stock(symbol: "DDD") { mentions { nodes { id text } } } }')
    mention = feed["data"]["stock"]["mentions"]["nodes"][0]
    body = await graphql(
        client,
        "query($id: ID!) { mention(id: $id) { id source text stock { symbol } } }",
        {"id": mention["id"]},
    )
    assert body["data"]["mention"] == {
        "id": mention["id"],
        "source": "NEWS",
        "text": FLAT,
        "stock": {"symbol": "DDD"},
    }
    missing = await graphql(client, '{ mention(id: "999999") { id } stock(symbol: "ZZZ") { id } }')
    assert missing["data"] == {"mention": None, "stock": None}
    assert "errors" not in missing
