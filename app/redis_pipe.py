"""One pipelined Redis connection for the commands every request sends.

A response-cache hit is one script call, a budget charge another, a field-cache read one MGET.
Through redis-py's asyncio client a script call costs ~62 us of CPU (a pooled connection taken
under a lock and a timeout, a task for the write's timeout, another timeout for the read), here
~11 us (an MGET of 50 keys: ~90 against ~28 us; `python -m bench.redispipe`, 16 callers at a
time): every caller writes its command to one connection and waits for its reply, which Redis
sends in the order it received the commands (hiredis parses them).

A reply that does not come within `timeout_s` fails its caller with TimeoutError (the breaker's
business, as with redis-py), by one timer for the whole queue; the late reply is matched to that
caller's abandoned slot and dropped, so the order holds. A lost connection fails every waiting
caller with ConnectionError, and the next command connects again. Only plain `redis://` URLs to
a single server are served here (`RedisPipe.for_url` returns None otherwise); everything else
stays on redis-py.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import deque
from collections.abc import Sequence
from typing import Any, cast
from urllib.parse import unquote, urlsplit

import hiredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError

Arg = bytes | str | int | float


def pack(args: Sequence[Arg]) -> bytes:
    """A command in RESP: an array of bulk strings."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, bytes):
            data = arg
        elif isinstance(arg, str):
            data = arg.encode()
        else:
            data = repr(arg).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


def _error(reply: hiredis.ReplyError) -> ResponseError:
    message = str(reply)
    if message.startswith("NOSCRIPT"):
        return NoScriptError(message)
    return ResponseError(message)


class _Protocol(asyncio.Protocol):
    """Replies matched to their callers in order; callers past their deadline failed by one timer.

    Every command has the same timeout, so the deadlines are in the order of the queue: one timer,
    set for the oldest pending deadline, fails what is late (no timer per command).
    """

    def __init__(self) -> None:
        self.reader = hiredis.Reader()
        self.waiting: deque[tuple[float, asyncio.Future[Any]]] = deque()
        self.transport: asyncio.Transport | None = None
        self.lost: Exception | None = None
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TCP transport is not a subclass of asyncio.Transport, though it is one.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        while True:
            try:
                reply = self.reader.gets()
            except hiredis.ProtocolError as exc:
                self.fail(RedisConnectionError(f"Redis protocol error: {exc}"))
                if self.transport is not None:
                    self.transport.abort()
                return
            if reply is False:
                return
            _, waiter = self.waiting.popleft()
            if waiter.done():
                continue  # its caller timed out or gave up: the reply is dropped, the order kept
            if isinstance(reply, hiredis.ReplyError):
                waiter.set_exception(_error(reply))
            else:
                waiter.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.fail(RedisConnectionError(f"Redis connection lost: {exc or 'closed by the server'}"))

    def fail(self, error: Exception) -> None:
        self.lost = error
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        while self.waiting:
            _, waiter = self.waiting.popleft()
            if not waiter.done():
                waiter.set_exception(error)

    def send(self, command: bytes, timeout_s: float) -> asyncio.Future[Any]:
        if self.lost is not None or self.transport is None:
            raise self.lost or RedisConnectionError("Redis connection not open")
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        deadline = loop.time() + timeout_s
        self.waiting.append((deadline, waiter))
        self.transport.write(command)
        if self.timer is None:
            self.timer = loop.call_at(deadline, self._expire, timeout_s)
        return waiter

    def _expire(self, timeout_s: float) -> None:
        self.timer = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        for deadline, waiter in self.waiting:
            if deadline > now:
                self.timer = loop.call_at(deadline, self._expire, timeout_s)
                return
            if not waiter.done():
                waiter.set_exception(
                    TimeoutError(f"Redis did not answer within {timeout_s * 1000:.0f} ms")
                )


class RedisPipe:
    """Commands with exactly one reply each (GET, MGET, EVALSHA...), on one connection."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        db: int = 0,
        username: str | None = None,
        password: str | None = None,
        timeout_s: float,
        connect_timeout_s: float,
    ) -> None:
        self.host, self.port, self.db = host, port, db
        self.username, self.password = username, password
        self.timeout_s = timeout_s
        self.connect_timeout_s = connect_timeout_s
        self._protocol: _Protocol | None = None
        self._connecting: asyncio.Future[_Protocol] | None = None
        self._shas: dict[str, bytes] = {}

    @classmethod
    def for_url(cls, url: str, timeout_s: float, connect_timeout_s: float) -> RedisPipe | None:
        """A pipe to the server of a plain `redis://host:port/db` URL; None for anything else
        (TLS, a Unix socket, query options), which redis-py serves."""
        parts = urlsplit(url)
        if parts.scheme != "redis" or parts.query or not parts.hostname:
            return None
        path = parts.path.strip("/")
        if path and not path.isdigit():
            return None
        return cls(
            parts.hostname,
            parts.port or 6379,
            db=int(path or 0),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            timeout_s=timeout_s,
            connect_timeout_s=connect_timeout_s,
        )

    async def execute(self, *args: Arg) -> Any:
        """The command's reply; TimeoutError after `timeout_s`, ConnectionError, ResponseError."""
        protocol = self._protocol
        if protocol is None or protocol.lost is not None:
            protocol = await self._connect()
        return await protocol.send(pack(args), self.timeout_s)

    async def script(self, text: str, keys: Sequence[Arg], args: Sequence[Arg]) -> Any:
        """EVALSHA of `text`; EVAL when the server does not hold it (a restart, SCRIPT FLUSH)."""
        sha = self._shas.get(text)
        if sha is None:
            sha = self._shas[text] = _sha1(text)
        try:
            return await self.execute(b"EVALSHA", sha, len(keys), *keys, *args)
        except NoScriptError:
            return await self.execute(b"EVAL", text, len(keys), *keys, *args)

    async def _connect(self) -> _Protocol:
        """One connection attempt at a time; every caller waiting meanwhile shares it."""
        if self._connecting is None:
            self._connecting = asyncio.ensure_future(self._open())
        connecting = self._connecting
        try:
            return await asyncio.shield(connecting)
        finally:
            if connecting.done() and self._connecting is connecting:
                self._connecting = None

    async def _open(self) -> _Protocol:
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(self.connect_timeout_s):
            _, protocol = await loop.create_connection(_Protocol, self.host, self.port)
            try:
                setup: list[asyncio.Future[Any]] = []
                if self.password is not None:
                    auth = [self.username, self.password] if self.username else [self.password]
                    setup.append(protocol.send(pack([b"AUTH", *auth]), self.connect_timeout_s))
                if self.db:
                    setup.append(protocol.send(pack([b"SELECT", self.db]), self.connect_timeout_s))
                for waiter in setup:
                    await waiter
            except BaseException:
                self._drop(protocol)
                raise
        old, self._protocol = self._protocol, protocol
        if old is not None:
            self._drop(old)
        return protocol

    def _drop(self, protocol: _Protocol) -> None:
        protocol.fail(RedisConnectionError("Redis connection closed"))
        if protocol.transport is not None:
            protocol.transport.close()

    async def close(self) -> None:
        if self._connecting is not None and not self._connecting.done():
            self._connecting.cancel()
        if self._protocol is not None:
            self._drop(self._protocol)
            self._protocol = None


def _sha1(text: str) -> bytes:
    return hashlib.sha1(text.encode()).hexdigest().encode()
