"""Resumable subscriptions: `after` replays what a subscriber missed, then live, on any worker."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from websockets.asyncio.client import ClientConnection

from app.config import Settings
from app.db import Database
from app.realtime.events import mention_channel
from app.realtime.outbox import prune, read_events
from app.timeutil import utcnow
from schema.cursors import decode_event
from tests.liveserver import LiveServer, live_server, receive, subscribe, wait_for, ws_client
from tests.schema.test_subscription import ingest_over_http, item, setup_keys


async def ingest(server: LiveServer, token: str, ops: dict[str, str], ids: list[str]) -> None:
    body = await ingest_over_http(server, token, ops["IngestMentions"], [item(i) for i in ids])
    assert body["data"]["ingestMentions"]["accepted"] == len(ids), body


async def mentions(ws: ClientConnection, count: int) -> list[dict[str, Any]]:
    """The next `count` mentionAdded payloads: (externalId via text order) and their cursors."""
    received = []
    for _ in range(count):
        message = await receive(ws)
        assert message["type"] == "next", message
        received.append(message["payload"])
    return received


async def nothing_more(ws: ClientConnection) -> bool:
    try:
        extra = await receive(ws, timeout_s=0.7)
    except TimeoutError:
        return True
    raise AssertionError(f"unexpected message {extra}")


def ids(payloads: list[dict[str, Any]]) -> list[str]:
    return [p["data"]["mentionAdded"]["id"] for p in payloads]


async def first_cursor(
    server: LiveServer, reader: str, pusher: str, ops: dict[str, str]
) -> tuple[str, str]:
    """Subscribe, receive one event, disconnect: (the event's mention id, its cursor)."""
    async with ws_client(server, {"apiKey": reader}) as ws:
        await subscribe(ws, "m", ops["LiveMentions"], {"symbols": ["AAPL"]})
        await wait_for(lambda: mention_channel("AAPL") in server.resources.broker.subscribers)
        await ingest(server, pusher, ops, ["first"])
        (payload,) = await mentions(ws, 1)
    return payload["data"]["mentionAdded"]["id"], payload["extensions"]["cursor"]


RESUME = """subscription Resume($symbols: [String!]!, $after: String) {
  mentionAdded(symbols: $symbols, after: $after) { id text }
}"""


async def test_a_resumed_subscription_gets_exactly_what_it_missed_in_order_then_live_events(
    db: Database, settings: Settings, operations: dict[str, str]
) -> None:
    reader, pusher = await setup_keys(db)
    async with live_server(settings) as server:
        first, cursor = await first_cursor(server, reader, pusher, operations)
        missed = [f"gap{i}" for i in range(5)]
        await ingest(server, pusher, operations, missed[:2])
        await ingest(server, pusher, operations, missed[2:])
        async with ws_client(server, {"apiKey": reader}) as ws:
            await subscribe(ws, "r", RESUME, {"symbols": ["AAPL"], "after": cursor})
            replayed = await mentions(ws, 5)
            await ingest(server, pusher, operations, ["live"])
            (live,) = await mentions(ws, 1)
            assert await nothing_more(ws)
    cursors = [p["extensions"]["cursor"] for p in [*replayed, live]]
    assert len(set(cursors)) == 6 and cursor not in cursors
    got = [int(i) for i in ids([*replayed, live])]
    assert got == sorted(got) and int(first) < got[0]  # in order, nothing twice, nothing before


async def test_a_resume_works_through_another_worker(
    db: Database, settings: Settings, operations: dict[str, str]
) -> None:
    reader, pusher = await setup_keys(db)
    fast = settings.model_copy(update={"live_poll_interval_ms": 50})
    async with live_server(fast) as one, live_server(fast) as two:
        _, cursor = await first_cursor(one, reader, pusher, operations)
        await ingest(one, pusher, operations, ["a", "b", "c"])
        async with ws_client(two, {"apiKey": reader}) as ws:
            await subscribe(ws, "r", RESUME, {"symbols": ["AAPL"], "after": cursor})
            replayed = await mentions(ws, 3)
            await ingest(one, pusher, operations, ["d"])  # announced by the other worker
            (live,) = await mentions(ws, 1)
            assert await nothing_more(ws)
    texts = [p["data"]["mentionAdded"]["id"] for p in [*replayed, live]]
    assert len(set(texts)) == 4
    assert [int(t) for t in texts] == sorted(int(t) for t in texts)


async def test_a_cursor_older_than_the_window_is_refused_with_cursor_expired(
    db: Database, settings: Settings, operations: dict[str, str]
) -> None:
    reader, pusher = await setup_keys(db)
    async with live_server(settings) as server:
        _, cursor = await first_cursor(server, reader, pusher, operations)
        await ingest(server, pusher, operations, ["later"])
        assert await prune(db, utcnow() + timedelta(hours=1)) == 4  # 2 mentions + 2 sentiments
        async with ws_client(server, {"apiKey": reader}) as ws:
            await subscribe(ws, "old", RESUME, {"symbols": ["AAPL"], "after": cursor})
            await subscribe(ws, "bad", RESUME, {"symbols": ["AAPL"], "after": "nonsense"})
            messages = [await receive(ws) for _ in range(4)]
    errors = {m["id"]: m["payload"]["errors"][0] for m in messages if m["type"] == "next"}
    assert sorted(m["type"] for m in messages) == ["complete", "complete", "next", "next"]
    assert errors["old"]["extensions"] == {
        "code": "CURSOR_EXPIRED",
        "retentionHours": settings.live_retention_h,
    }
    assert errors["bad"]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_sentiment_resumes_with_the_latest_value_per_symbol(
    db: Database, settings: Settings, operations: dict[str, str]
) -> None:
    reader, pusher = await setup_keys(db)
    query = """subscription S($symbols: [String!]!, $after: String) {
      sentimentUpdated(symbols: $symbols, after: $after) { stock { symbol } mentionCount24h }
    }"""
    async with live_server(settings) as server:
        _, cursor = await first_cursor(server, reader, pusher, operations)
        for batch in (["s1"], ["s2", "s3"]):
            await ingest(server, pusher, operations, batch)
        async with ws_client(server, {"apiKey": reader}) as ws:
            await subscribe(ws, "s", query, {"symbols": ["AAPL", "TSLA"], "after": cursor})
            message = await receive(ws)
            assert await nothing_more(ws)
    assert message["payload"]["data"]["sentimentUpdated"] == {
        "stock": {"symbol": "AAPL"},
        "mentionCount24h": 4,
    }


async def test_subscribers_without_after_get_cursors_and_nothing_replayed(
    db: Database, settings: Settings, operations: dict[str, str]
) -> None:
    reader, pusher = await setup_keys(db)
    async with live_server(settings) as server:
        await ingest(server, pusher, operations, ["before"])
        async with ws_client(server, {"apiKey": reader}) as ws:
            await subscribe(ws, "m", operations["LiveMentions"], {"symbols": ["AAPL"]})
            await asyncio.sleep(0.2)
            await ingest(server, pusher, operations, ["after"])
            (payload,) = await mentions(ws, 1)
            assert await nothing_more(ws)
    assert int(payload["data"]["mentionAdded"]["id"]) == 2  # not the mention made before
    events = await read_events(db, 0, 100)
    assert len(events) == 4  # two per ingest: a mention and a sentiment
    assert decode_event("after", payload["extensions"]["cursor"]) == events[2].cursor
