from __future__ import annotations

from typing import Any

import httpx

from app.apikeys import create_key
from app.config import Settings
from app.db import Database
from app.events import mention_channel, sentiment_channel
from tests.factories.stocks import make_stock
from tests.liveserver import LiveServer, live_server, receive, subscribe, wait_for, ws_client

NOW_ISH = "2026-12-03T12:00:00Z"


def item(external_id: str, text: str = "$AAPL record profits, fantastic") -> dict[str, Any]:
    return {"source": "REDDIT", "externalId": external_id, "text": text, "publishedAt": NOW_ISH}


async def setup_keys(db: Database) -> tuple[str, str]:
    async with db.sessionmaker.begin() as session:
        await make_stock(session, "AAPL")
        await make_stock(session, "TSLA")
    reader, _ = await create_key(db, "frontend", scopes=["read"])
    pusher, _ = await create_key(db, "partner", scopes=["read", "ingest"])
    return reader, pusher


async def ingest_over_http(
    server: LiveServer, token: str, query: str, mentions: list[dict[str, Any]]
) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        response = await http.post(
            "/graphql",
            json={"query": query, "variables": {"mentions": mentions}},
            headers={"Authorization": f"Bearer {token}"},
        )
    body: dict[str, Any] = response.json()
    return body


async def test_subscriber_receives_mention_and_sentiment_after_ingest_through_the_api(
    db: Database, settings: Settings, operations: dict[str, str]
) -> None:
    reader, pusher = await setup_keys(db)
    async with live_server(settings) as server, ws_client(server, {"apiKey": reader}) as ws:
        await subscribe(ws, "m", operations["LiveMentions"], {"symbols": ["aapl"]})
        await subscribe(ws, "s", operations["LiveSentiment"], {"symbols": ["AAPL", "TSLA"]})
        broker = server.resources.broker
        await wait_for(
            lambda: (
                broker.is_live(mention_channel("AAPL"))
                and broker.is_live(sentiment_channel("TSLA"))
            )
        )
        body = await ingest_over_http(server, pusher, operations["IngestMentions"], [item("e1")])
        assert body["data"]["ingestMentions"]["accepted"] == 1

        received = {m["id"]: m for m in [await receive(ws), await receive(ws)]}
        mention = received["m"]["payload"]["data"]["mentionAdded"]
        assert mention["source"] == "REDDIT"
        assert mention["text"] == "$AAPL record profits, fantastic"
        assert mention["label"] == "POSITIVE"
        assert mention["stock"] == {"symbol": "AAPL"}
        sentiment = received["s"]["payload"]["data"]["sentimentUpdated"]
        assert sentiment["stock"] == {"symbol": "AAPL"}
        assert sentiment["mentionCount24h"] == 1
        assert sentiment["compoundScore"] == mention["compoundScore"]

        # A re-sent mention is a duplicate: nothing stored, so nothing published.
        again = await ingest_over_http(server, pusher, operations["IngestMentions"], [item("e1")])
        assert again["data"]["ingestMentions"] == {"accepted": 0, "duplicates": 1, "rejected": []}
        await ingest_over_http(server, pusher, operations["IngestMentions"], [item("e2")])
        nxt = await receive(ws)
        assert nxt["payload"]["data"]["mentionAdded"]["id"] != mention["id"]


async def test_unknown_or_too_many_symbols_are_refused_with_a_code(
    db: Database, settings: Settings, operations: dict[str, str]
) -> None:
    await setup_keys(db)
    async with live_server(settings) as server, ws_client(server) as ws:
        await subscribe(ws, "u", operations["LiveSentiment"], {"symbols": ["AAPL", "NOPE"]})
        many = [f"S{i}" for i in range(settings.realtime_max_symbols + 1)]
        await subscribe(ws, "t", operations["LiveMentions"], {"symbols": many})
        messages = [await receive(ws) for _ in range(4)]
    errors = {m["id"]: m["payload"]["errors"][0] for m in messages if m["type"] == "next"}
    assert sorted(m["type"] for m in messages) == ["complete", "complete", "next", "next"]
    assert errors["u"]["extensions"] == {
        "code": "BAD_USER_INPUT",
        "field": "symbols",
        "unknown": ["NOPE"],
    }
    assert errors["t"]["message"] == "symbols: at most 50 symbols, got 51"
    assert errors["t"]["extensions"] == {
        "code": "BAD_USER_INPUT",
        "field": "symbols",
        "min": 1,
        "max": settings.realtime_max_symbols,
    }
