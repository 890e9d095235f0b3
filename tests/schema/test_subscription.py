from __future__ import annotations

import asyncio
import socket
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from websockets.client import ClientProtocol
from websockets.frames import Close, Frame, Opcode
from websockets.protocol import State
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

from app import cli
from app.apikeys import create_key
from app.config import Settings, get_settings
from app.db import Database
from app.realtime.events import mention_channel, sentiment_channel
from app.timeutil import utcnow
from schema.multiplex import Multiplexer
from tests.factories.stocks import make_stock
from tests.liveserver import (
    PROTOCOL,
    LiveServer,
    live_server,
    receive,
    subscribe,
    wait_for,
    ws_client,
)


def item(external_id: str, text: str = "$AAPL record profits, fantastic") -> dict[str, Any]:
    published = (utcnow() - timedelta(minutes=5)).isoformat()
    return {"source": "REDDIT", "externalId": external_id, "text": text, "publishedAt": published}


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


def redis_settings(settings: Settings, redis_url: str) -> Settings:
    prefix = f"test-{uuid.uuid4().hex[:8]}:"
    return settings.model_copy(update={"redis_url": redis_url, "realtime_channel_prefix": prefix})


async def test_an_ingest_on_one_instance_reaches_subscribers_of_another_through_redis(
    db: Database, settings: Settings, redis_url: str, operations: dict[str, str]
) -> None:
    reader, pusher = await setup_keys(db)
    shared = redis_settings(settings, redis_url)
    async with (
        live_server(shared) as listener,
        live_server(shared) as writer,
        ws_client(listener, {"Authorization": f"Bearer {reader}"}) as ws,
    ):
        await subscribe(ws, "m", operations["LiveMentions"], {"symbols": ["AAPL"]})
        await wait_for(lambda: listener.resources.broker.is_live(mention_channel("AAPL")))
        body = await ingest_over_http(writer, pusher, operations["IngestMentions"], [item("r1")])
        assert body["data"]["ingestMentions"]["accepted"] == 1
        event = await receive(ws)
    assert event["payload"]["data"]["mentionAdded"]["stock"] == {"symbol": "AAPL"}
    assert event["payload"]["data"]["mentionAdded"]["text"] == item("r1")["text"]


async def test_an_ingest_through_the_cli_reaches_subscribers_through_redis(
    db: Database,
    settings: Settings,
    redis_url: str,
    operations: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await setup_keys(db)
    shared = redis_settings(settings, redis_url)
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(item(f"cli{i}")) for i in range(3)) + b"\n")
    monkeypatch.setenv("DATABASE_URL", shared.database_url)
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("REALTIME_CHANNEL_PREFIX", shared.realtime_channel_prefix)
    # The test's cache namespace, deleted after the run (the default one would stay in Redis).
    monkeypatch.setenv("CACHE_NAMESPACE", shared.cache_namespace)
    get_settings.cache_clear()
    try:
        async with live_server(shared) as server, ws_client(server) as ws:
            await subscribe(ws, "s", operations["LiveSentiment"], {"symbols": ["AAPL"]})
            await wait_for(lambda: server.resources.broker.is_live(sentiment_channel("AAPL")))
            code = await asyncio.to_thread(cli.main, ["ingest", str(path), "--quiet"])
            assert code == 0
            event = await receive(ws)
    finally:
        get_settings.cache_clear()
    sentiment = event["payload"]["data"]["sentimentUpdated"]
    assert sentiment["stock"] == {"symbol": "AAPL"}
    assert sentiment["mentionCount24h"] == 3


class StalledClient:
    """A graphql-transport-ws client on a raw socket that stops reading when told to.

    Built on the sans-I/O protocol of `websockets`, so nothing reads the socket behind our back;
    its receive buffer is pinned small, so the server's socket buffer fills and its sends block.
    """

    def __init__(self, server: LiveServer) -> None:
        self.protocol = ClientProtocol(
            parse_uri(server.ws_url), subprotocols=[Subprotocol(PROTOCOL)]
        )
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
        self.port = server.port

    async def start(self, init: dict[str, Any], query: str, variables: dict[str, Any]) -> None:
        loop = asyncio.get_running_loop()
        self.sock.setblocking(False)
        await loop.sock_connect(self.sock, ("127.0.0.1", self.port))
        self.protocol.send_request(self.protocol.connect())
        await self._flush()
        while self.protocol.state is not State.OPEN:
            self.protocol.receive_data(await loop.sock_recv(self.sock, 1 << 16))
            assert self.protocol.handshake_exc is None, self.protocol.handshake_exc
        self.protocol.send_text(orjson.dumps({"type": "connection_init", "payload": init}))
        subscribe_message = {
            "id": "m",
            "type": "subscribe",
            "payload": {"query": query, "variables": variables},
        }
        self.protocol.send_text(orjson.dumps(subscribe_message))
        await self._flush()

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        for chunk in self.protocol.data_to_send():
            if chunk:
                await loop.sock_sendall(self.sock, chunk)

    async def read_until_closed(self, timeout_s: float = 20) -> tuple[int, int | None, str | None]:
        """Read everything; return (next messages seen, close code, close reason)."""
        loop = asyncio.get_running_loop()
        seen = 0
        while True:
            data = await asyncio.wait_for(loop.sock_recv(self.sock, 1 << 16), timeout_s)
            if not data:
                self.protocol.receive_eof()
            else:
                self.protocol.receive_data(data)
            for event in self.protocol.events_received():
                if (
                    isinstance(event, Frame)
                    and event.opcode == Opcode.TEXT
                    and b'"next"' in event.data
                ):
                    seen += 1
                if isinstance(event, Frame) and event.opcode == Opcode.CLOSE:
                    close = Close.parse(event.data)
                    return seen, close.code, close.reason
            if not data:
                return seen, None, None

    def close(self) -> None:
        self.sock.close()


async def test_a_slow_consumer_is_disconnected_with_4008_and_others_keep_receiving(
    db: Database, settings: Settings, operations: dict[str, str]
) -> None:
    reader, pusher = await setup_keys(db)
    # Batches of 500 long mentions (4.6 MB) are over the default request body limit (1 MiB).
    small = settings.model_copy(
        update={"realtime_queue_size": 600, "limits_max_body_bytes": 8 * 1024 * 1024}
    )
    # ~14 MB of events: more than the server's socket buffer (4 MB at most on Linux) can absorb
    # once the slow client's receive buffer is pinned small.
    long_text = "$AAPL " + "wonderful growth ahead " * 400
    batches, per_batch = 3, 500
    async with live_server(small) as server, ws_client(server, {"apiKey": reader}) as healthy:
        slow = StalledClient(server)
        # Same document and variables: both share one execution, each has its own queue.
        await slow.start({"apiKey": reader}, operations["LiveMentions"], {"symbols": ["AAPL"]})
        await subscribe(healthy, "h", operations["LiveMentions"], {"symbols": ["AAPL"]})
        multiplexer: Multiplexer = server.app.state.multiplexer
        await wait_for(lambda: sum(len(f.outlets) for f in multiplexer.feeds.values()) == 2)
        await wait_for(lambda: server.resources.broker.is_live(mention_channel("AAPL")))
        assert len(multiplexer.feeds) == 1

        async def read_all() -> int:
            got = 0
            while got < batches * per_batch:
                message = await receive(healthy, timeout_s=20)
                assert message["type"] == "next", message
                got += 1
            return got

        reader_task = asyncio.create_task(read_all())
        # `slow` reads nothing while megabytes of events pile up behind its socket.
        for batch in range(batches):
            mentions = [item(f"b{batch}-{i}", text=long_text) for i in range(per_batch)]
            body = await ingest_over_http(server, pusher, operations["IngestMentions"], mentions)
            assert body["data"]["ingestMentions"]["accepted"] == per_batch
        assert await reader_task == batches * per_batch
        try:
            received, code, reason = await slow.read_until_closed()
        finally:
            slow.close()
        assert (code, reason) == (4008, "slow consumer")
        assert received < batches * per_batch


async def test_nested_fields_of_an_event_are_as_fresh_as_the_event(
    db: Database, settings: Settings, operations: dict[str, str]
) -> None:
    reader, pusher = await setup_keys(db)
    query = """subscription($s: [String!]!) {
      mentionAdded(symbols: $s) { externalId stock { symbol sentiment { mentionCount24h } } }
    }"""
    async with live_server(settings) as server, ws_client(server, {"apiKey": reader}) as ws:
        await subscribe(ws, "n", query, {"s": ["AAPL"]})
        await wait_for(lambda: server.resources.broker.is_live(mention_channel("AAPL")))
        counts = []
        for external_id in ("f1", "f2"):
            await ingest_over_http(
                server, pusher, operations["IngestMentions"], [item(external_id)]
            )
            event = (await receive(ws))["payload"]["data"]["mentionAdded"]
            counts.append((event["externalId"], event["stock"]["sentiment"]["mentionCount24h"]))
    assert counts == [("f1", 1), ("f2", 2)]


async def test_a_subscription_is_charged_to_the_budget_once_when_it_subscribes(
    db: Database, settings: Settings, operations: dict[str, str]
) -> None:
    await setup_keys(db)
    query = operations["LiveSentiment"]  # one event: sentimentUpdated 1 + its stock 1

    def budget(capacity: int) -> Settings:
        update = {"budget_anonymous_capacity": capacity, "budget_anonymous_restore_per_s": 0.01}
        return settings.model_copy(update=update)

    async with live_server(budget(4)) as server, ws_client(server) as ws:
        await subscribe(ws, "a", query, {"symbols": ["AAPL"]})
        await subscribe(ws, "b", query, {"symbols": ["TSLA"]})
        await subscribe(ws, "c", query, {"symbols": ["AAPL"]})
        throttled = await receive(ws)
    async with live_server(budget(1)) as server, ws_client(server) as ws:
        await subscribe(ws, "big", query, {"symbols": ["AAPL"]})
        too_big = await receive(ws)
    # "a" and "b" took the 4 points and wait for events; "c" is refused at once.
    assert throttled["type"] == "error" and throttled["id"] == "c"
    assert throttled["payload"][0]["extensions"]["code"] == "THROTTLED"
    assert throttled["payload"][0]["extensions"]["cost"] == 2
    assert too_big["type"] == "error" and too_big["id"] == "big"
    assert too_big["payload"][0]["extensions"] == {
        "code": "MAX_COST_EXCEEDED",
        "cost": 2,
        "limit": 1,
    }
