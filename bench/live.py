"""Live subscriptions in the load: users holding `LiveSentiment`, connection churn, an ingester.

A live user opens a graphql-transport-ws connection, subscribes the reference `LiveSentiment`
over its watchlist and counts the events it receives while it browses. The churn opens
connections by the thousand, subscribes on each and closes them all, to show that what a
connection holds on the server (its context, its broker subscription, its task) is released.
The ingester pushes mentions of popular stocks through `ingestMentions` with an API key, so the
subscriptions have events to deliver.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect

from bench.http1 import HttpError, Poster
from bench.workload import popular_symbol

PROTOCOL = "graphql-transport-ws"


@dataclass(slots=True)
class LiveStats:
    """What the live side of a load did: connections, failures, events delivered."""

    opened: int = 0
    closed: int = 0
    failed: int = 0
    events: int = 0
    first_error: str | None = None
    ingested: int = 0
    ingest_errors: int = 0

    def fail(self, error: str) -> None:
        self.failed += 1
        self.first_error = self.first_error or error[:300]

    def as_dict(self) -> dict[str, Any]:
        return {
            "opened": self.opened,
            "closed": self.closed,
            "failed": self.failed,
            "events": self.events,
            "first_error": self.first_error,
            "ingested": self.ingested,
            "ingest_errors": self.ingest_errors,
        }


def ws_url(http_url: str) -> str:
    return http_url.replace("http://", "ws://", 1).rstrip("/") + "/graphql"


async def subscribe(url: str, query: str, symbols: list[str], timeout_s: float = 10.0) -> Any:
    """Open a connection, wait for its ack and subscribe; the open connection is returned."""
    ws = await asyncio.wait_for(
        connect(url, subprotocols=[PROTOCOL], max_queue=None),  # type: ignore[list-item]
        timeout_s,
    )
    try:
        await ws.send('{"type":"connection_init","payload":{}}')
        ack = orjson.loads(await asyncio.wait_for(ws.recv(), timeout_s))
        if ack.get("type") != "connection_ack":
            raise RuntimeError(f"no connection_ack: {ack}")
        message = {
            "id": "live",
            "type": "subscribe",
            "payload": {"query": query, "variables": {"symbols": symbols}},
        }
        await ws.send(orjson.dumps(message).decode())
    except BaseException:
        await ws.close()
        raise
    return ws


async def hold(ws: ClientConnection, stats: LiveStats) -> None:
    """Count the events of a held subscription until the connection closes or is cancelled."""
    try:
        async for raw in ws:
            message = orjson.loads(raw)
            kind = message.get("type")
            if kind == "next" and not message["payload"].get("errors"):
                stats.events += 1
            elif kind in ("next", "error"):
                stats.fail(orjson.dumps(message).decode())
                return
    except Exception as exc:
        stats.fail(f"{type(exc).__name__}: {exc}")
    finally:
        await ws.close()
        stats.closed += 1


async def live_user(
    url: str, query: str, symbols: list[str], stats: LiveStats
) -> asyncio.Task[None] | None:
    """A user's live subscription, held by a task (cancel it to close); None when refused."""
    try:
        ws = await subscribe(url, query, symbols)
    except Exception as exc:
        stats.fail(f"{type(exc).__name__}: {exc}")
        return None
    stats.opened += 1
    return asyncio.create_task(hold(ws, stats))


async def churn(
    url: str, query: str, total: int, batch: int, stocks: int, stats: LiveStats, seed: int = 9,
    pause_s: float = 0.0,
) -> None:  # fmt: skip
    """Open `batch` subscribed connections at once, close them all; repeat up to `total`,
    `pause_s` apart (to spread the churn over a soak)."""
    rng = random.Random(seed)
    done = 0
    while done < total:
        size = min(batch, total - done)
        opened: list[Any] = []
        results = await asyncio.gather(
            *(subscribe(url, query, [popular_symbol(rng, stocks)]) for _ in range(size)),
            return_exceptions=True,
        )
        for result in results:
            if isinstance(result, BaseException):
                stats.fail(f"{type(result).__name__}: {result}")
            else:
                opened.append(result)
        stats.opened += len(opened)
        await asyncio.gather(*(ws.close() for ws in opened), return_exceptions=True)
        stats.closed += len(opened)
        done += size
        if done < total:
            await asyncio.sleep(pause_s)


@dataclass(slots=True)
class Ingester:
    """Pushes one mention of a popular stock every 1/`per_s` seconds through the API."""

    client: Poster
    query: str
    token: str
    per_s: float
    stocks: int
    stats: LiveStats
    rng: random.Random = field(default_factory=lambda: random.Random(13))

    async def run(self) -> None:
        while True:
            started = time.perf_counter()
            await self.step()
            await asyncio.sleep(max(0.0, 1 / self.per_s - (time.perf_counter() - started)))

    async def step(self) -> None:
        """Ingest one mention; count it, or the error."""
        symbol = popular_symbol(self.rng, self.stocks)
        published = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
        mention = {
            "symbol": symbol,
            "source": "NEWS",
            "externalId": f"bench-live-{uuid.uuid4().hex}",
            "text": f"${symbol} beats expectations",
            "publishedAt": published,
        }
        try:
            reply = await self.client.post(
                "/graphql",
                orjson.dumps({"query": self.query, "variables": {"mentions": [mention]}}),
                {"content-type": "application/json", "authorization": f"Bearer {self.token}"},
            )
            body = orjson.loads(reply.body)
            if reply.status != 200 or body.get("errors"):
                self.stats.ingest_errors += 1
                self.stats.first_error = self.stats.first_error or reply.body[:300].decode()
            else:
                self.stats.ingested += body["data"]["ingestMentions"]["accepted"]
        except (HttpError, ValueError) as exc:
            self.stats.ingest_errors += 1
            self.stats.first_error = self.stats.first_error or f"{type(exc).__name__}: {exc}"
