from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import func, select

from app.apikeys import create_key
from app.db import Database
from app.models import Mention
from tests.conftest import graphql
from tests.factories.stocks import make_stock
from tests.sqlcount import count_statements


def item(external_id: str, text: str = "$AAPL beats estimates, great quarter") -> dict[str, Any]:
    return {
        "source": "TWITTER",
        "externalId": external_id,
        "text": text,
        "publishedAt": "2026-01-02T10:00:00Z",
        "url": "https://x.com/a/status/1",
    }


async def ingest_token(db: Database) -> str:
    async with db.sessionmaker.begin() as session:
        await make_stock(session, "AAPL")
    token, _ = await create_key(db, "pusher", scopes=["read", "ingest"])
    return token


async def mention_count(db: Database) -> int:
    async with db.sessionmaker() as session:
        return int((await session.execute(select(func.count()).select_from(Mention))).scalar_one())


async def test_ingest_mentions_reports_accepted_duplicates_and_rejected(
    db: Database, client: httpx.AsyncClient, operations: dict[str, str]
) -> None:
    token = await ingest_token(db)
    batch = [item("t1"), item("t2", text="no cashtag here"), item("t1")]
    body = await graphql(
        client,
        operations["IngestMentions"],
        {"mentions": batch},
        Authorization=f"Bearer {token}",
    )
    assert {"data": body["data"]} == {
        "data": {
            "ingestMentions": {
                "accepted": 1,
                "duplicates": 1,
                "rejected": [
                    {
                        "index": 1,
                        "externalId": "t2",
                        "code": "NO_SYMBOL",
                        "message": "symbol: missing, and the text names no $CASHTAG",
                    }
                ],
            }
        }
    }
    # The write costs INGEST_COST; `rejected` is a list of objects (10 assumed, 1 returned).
    cost = body["extensions"]["cost"]
    assert (cost["requestedQueryCost"], cost["actualQueryCost"]) == (20, 11)
    again = await graphql(
        client,
        operations["IngestMentions"],
        {"mentions": [item("t1")]},
        Authorization=f"Bearer {token}",
    )
    assert again["data"]["ingestMentions"]["duplicates"] == 1
    assert await mention_count(db) == 1


async def test_ingest_mentions_needs_the_ingest_scope(
    db: Database, client: httpx.AsyncClient, operations: dict[str, str]
) -> None:
    reader, _ = await create_key(db, "reader", scopes=["read"])
    for headers in ({"Authorization": f"Bearer {reader}"}, {}):
        body = await graphql(
            client, operations["IngestMentions"], {"mentions": [item("a")]}, **headers
        )
        assert "data" not in body  # a request error: nothing executed
        assert body["errors"][0]["extensions"] == {
            "code": "FORBIDDEN",
            "field": "ingestMentions",
            "scope": "ingest",
        }
    assert await mention_count(db) == 0


async def test_more_than_500_mentions_are_refused_before_any_sql(
    db: Database, client: httpx.AsyncClient, operations: dict[str, str]
) -> None:
    token = await ingest_token(db)
    batch = [item(f"n{i}") for i in range(501)]
    with count_statements() as log:
        body = await graphql(
            client,
            operations["IngestMentions"],
            {"mentions": batch},
            Authorization=f"Bearer {token}",
        )
    error = body["errors"][0]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "mentions", "max": 500}
    assert "500" in error["message"]
    # Only the API key lookup ran; nothing of the batch reached SQL.
    assert [s for s in log.statements if "mentions" in s or "stocks" in s] == []
    assert await mention_count(db) == 0


async def test_a_nul_or_an_unstorable_date_rejects_only_that_mention_over_graphql(
    db: Database, client: httpx.AsyncClient, operations: dict[str, str]
) -> None:
    token = await ingest_token(db)
    early = {**item("early"), "publishedAt": "0001-01-01T00:00:00+14:00"}
    batch = [item("n1"), item("n2", text="$AAPL \u0000 zero"), early, item("n3")]
    body = await graphql(
        client, operations["IngestMentions"], {"mentions": batch}, Authorization=f"Bearer {token}"
    )
    result = body["data"]["ingestMentions"]
    assert (result["accepted"], result["duplicates"]) == (2, 0)
    assert [(r["index"], r["code"]) for r in result["rejected"]] == [
        (1, "BAD_CHARACTER"),
        (2, "BAD_TIMESTAMP"),
    ]
    assert await mention_count(db) == 2
