"""A real Finnhub-compatible HTTP/1.1 server on 127.0.0.1 that can be told to misbehave.

It counts TCP connections and requests and records the peak number of requests in flight, so
tests can assert pooling and concurrency from the server's side of the socket.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit


@dataclass
class Behaviour:
    delay_s: float = 0.0
    status: int = 200  # answered for the first `failures` requests of each symbol
    failures: int = 0
    retry_after: str | None = None
    hang: bool = False
    only: frozenset[str] | None = None  # misbehave for these symbols only (None: all)


def quote_body(symbol: str) -> dict[str, object]:
    price = 100.0 + sum(map(ord, symbol)) % 50
    return {
        "c": price,
        "d": 1.5,
        "dp": 1.52,
        "h": price + 2,
        "l": price - 3,
        "o": price - 1,
        "pc": price - 1.5,
        "t": 1_764_000_000,
    }


def scripted_failure() -> dict[str, object]:
    return {"error": "scripted failure"}


class Upstream:
    def __init__(self) -> None:
        self.behaviour = Behaviour()
        self.connections = 0
        self.requests = 0
        self.by_symbol: Counter[str] = Counter()
        self.request_times: list[float] = []
        self.in_flight = 0
        self.peak_in_flight = 0
        self.tokens: set[str] = set()
        self.server: asyncio.Server | None = None
        self.handlers: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.sockets[0].getsockname()[:2]
        return f"http://{host}:{port}"

    async def start(self) -> None:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        for task in list(self.handlers):
            task.cancel()
        await asyncio.gather(*self.handlers, return_exceptions=True)
        await self.server.wait_closed()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.handlers.add(task)
        self.connections += 1
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                await self.respond(head.decode("latin-1"), writer)
        finally:
            self.handlers.discard(task)
            writer.close()

    async def respond(self, head: str, writer: asyncio.StreamWriter) -> None:
        target = head.split(" ", 2)[1]
        query = parse_qs(urlsplit(target).query)
        symbol = query.get("symbol", [""])[0]
        self.tokens.update(query.get("token", []))
        self.requests += 1
        self.by_symbol[symbol] += 1
        self.request_times.append(time.monotonic())
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            b = self.behaviour
            targeted = b.only is None or symbol in b.only
            if b.hang and targeted:
                await asyncio.Event().wait()
            await asyncio.sleep(b.delay_s)
            if targeted and self.by_symbol[symbol] <= b.failures:
                status, body, extra = b.status, scripted_failure(), b.retry_after
            else:
                status, body, extra = 200, quote_body(symbol), None
        finally:
            self.in_flight -= 1
        payload = json.dumps(body).encode()
        headers = [
            f"HTTP/1.1 {status} X",
            "Content-Type: application/json",
            f"Content-Length: {len(payload)}",
        ]
        if extra is not None:
            headers.append(f"Retry-After: {extra}")
        writer.write(("\r\n".join(headers) + "\r\n\r\n").encode() + payload)
        await writer.drain()


@asynccontextmanager
async def running_upstream() -> AsyncIterator[Upstream]:
    upstream = Upstream()
    await upstream.start()
    try:
        yield upstream
    finally:
        await upstream.stop()
