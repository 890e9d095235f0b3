"""A lean HTTP/1.1 keep-alive client for the load generators: asyncio protocols and httptools.

httpx spent ~2.7 ms of the load generator's CPU per request of the mix, more than the server
spent answering it, so on a 2-core machine the client, not the server, set the ceiling. This
pool writes one pre-built request per call on a kept-alive connection and parses the response
with httptools (the parser uvicorn serves with): tens of microseconds per request. It speaks
only what the benchmarks send: POST (or GET) with a body of bytes, `Content-Length` responses
or chunked ones, keep-alive. The tests drive apps in-process through `HttpxPoster` instead.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol, cast
from urllib.parse import urlsplit

import httptools
import httpx


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes


class Poster(Protocol):
    """What a load generator needs of an HTTP client."""

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> Reply: ...

    async def __aenter__(self) -> Poster: ...

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


class HttpError(Exception):
    """The connection failed, closed early, timed out or sent what could not be parsed."""


class _Connection(asyncio.Protocol):
    """One keep-alive connection: one request in flight at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future[Reply] | None = None
        self.closed = False
        self._headers: dict[str, str] = {}
        self._body: list[bytes] = []

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(HttpError(f"unparsable response: {exc}"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(HttpError(f"connection closed: {exc}" if exc else "connection closed"))

    # httptools callbacks
    def on_message_begin(self) -> None:
        self._headers = {}
        self._body = []

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        reply = Reply(self.parser.get_status_code(), self._headers, b"".join(self._body))
        if not self.parser.should_keep_alive():
            self.close()
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(reply)

    def _fail(self, error: Exception) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)

    def send(self, request: bytes) -> asyncio.Future[Reply]:
        assert self.transport is not None and self.waiter is None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return self.waiter

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class Http1Pool:
    """Up to `size` keep-alive connections to the host of `base_url`, opened on demand."""

    def __init__(self, base_url: str, size: int, timeout_s: float = 30.0) -> None:
        parts = urlsplit(base_url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"only http://host:port URLs: {base_url!r}")
        self.host = parts.hostname
        self.port = parts.port or 80
        self.size = size
        self.timeout_s = timeout_s
        self._idle: deque[_Connection] = deque()
        self._open = 0
        self._freed = asyncio.Condition()
        self._authority = f"{self.host}:{self.port}"

    async def __aenter__(self) -> Http1Pool:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        while self._idle:
            self._idle.popleft().close()

    def request_bytes(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> bytes:
        head = [f"{method} {path} HTTP/1.1", f"host: {self._authority}"]
        head += [f"{name}: {value}" for name, value in headers.items()]
        head.append(f"content-length: {len(body)}")
        return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body

    async def _acquire(self) -> _Connection:
        async with self._freed:
            while True:
                while self._idle:
                    connection = self._idle.pop()  # the most recently used: warm
                    if not connection.closed:
                        return connection
                    self._open -= 1
                if self._open < self.size:
                    self._open += 1
                    break
                await self._freed.wait()
        try:
            loop = asyncio.get_running_loop()
            _, connection = await loop.create_connection(_Connection, self.host, self.port)
        except BaseException:
            await self._release(None)
            raise
        return connection

    async def _release(self, connection: _Connection | None) -> None:
        async with self._freed:
            if connection is None or connection.closed:
                self._open -= 1
            else:
                self._idle.append(connection)
            self._freed.notify()

    async def request(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> Reply:
        payload = self.request_bytes(method, path, body, headers or {})
        try:
            async with asyncio.timeout(self.timeout_s):
                connection = await self._acquire()
                try:
                    reply = await connection.send(payload)
                except BaseException:
                    connection.close()
                    await self._release(connection)
                    raise
        except TimeoutError:
            raise HttpError(f"no response within {self.timeout_s} s") from None
        except OSError as exc:
            raise HttpError(f"{type(exc).__name__}: {exc}") from exc
        await self._release(connection)
        return reply

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> Reply:
        return await self.request("POST", path, body, headers)


class HttpxPoster:
    """The same interface over an httpx client: for apps driven in-process (ASGI transport)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def __aenter__(self) -> HttpxPoster:
        await self.client.__aenter__()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.client.__aexit__(kind, exc, tb)

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> Reply:
        try:
            response = await self.client.post(path, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise HttpError(f"{type(exc).__name__}: {exc}") from exc
        return Reply(response.status_code, dict(response.headers), response.content)
