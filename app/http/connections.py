"""uvicorn's HTTP and WebSocket protocols, with the reference cycles of a closed connection broken.

A connection's objects that sit in a reference cycle are freed only by a garbage collection of
the generation they reached, and a connection lives long enough to reach the oldest one: each
closed WebSocket then waited for a full collection, which with 10,000 open connections holds the
event loop for hundreds of milliseconds (issue 19). Two cycles of the server's own protocols
were left by every WebSocket (found with `gc.DEBUG_SAVEALL`, tests/app/test_connections.py):
httptools' parser calls back into the HTTP protocol that owns it, and websockets' parser is a
generator whose frame holds its connection. Both are cut once they can do nothing more, so
refcounting frees a closed connection as soon as its last task ends.

The HTTP protocol also sends what a response writes in one turn of the event loop (its head and
its body, which uvicorn writes apart) in one write: one system call a response instead of two.

`serve` (app/cli/serve.py) names these classes; `uvicorn --http app.http.connections:HttpProtocol
--ws app.http.connections:WebSocketProtocol` does the same from uvicorn's command line.
"""

from __future__ import annotations

import asyncio
from collections.abc import Generator
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

HTTP = "app.http.connections:HttpProtocol"
WEBSOCKET = "app.http.connections:WebSocketProtocol"


def _discard() -> Generator[None, None, None]:
    """A parser that reads nothing and, unlike websockets' own `discard`, holds no connection."""
    while True:
        yield


class Coalescing:
    """A transport whose writes of one event-loop turn reach the socket as one write.

    A response's head and body are written one after the other in the same turn: each was a
    `send` system call. Here they are kept, in order, and written together once the turn is
    over; closing writes what is kept first. Everything else is the transport's own.
    """

    __slots__ = ("_kept", "_loop", "transport")

    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        self._kept: list[bytes] = []
        self._loop = asyncio.get_running_loop()

    def write(self, data: bytes) -> None:
        if not self._kept:
            self._loop.call_soon(self.flush)
        self._kept.append(data)

    def flush(self) -> None:
        kept, self._kept = self._kept, []
        if kept and not self.transport.is_closing():
            # uvloop sends a list in one writev, without joining a large body into a copy.
            self.transport.writelines(kept)

    def close(self) -> None:
        self.flush()
        self.transport.close()

    def abort(self) -> None:
        self._kept = []
        self.transport.abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)


class HttpProtocol(HttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(Coalescing(transport))  # type: ignore[arg-type]

    def handle_websocket_upgrade(self) -> None:
        # The WebSocket protocol gets the socket's own transport (nothing was written yet).
        coalescing: Coalescing = self.transport  # type: ignore[assignment]
        coalescing.flush()
        self.transport = coalescing.transport
        super().handle_websocket_upgrade()
        # The WebSocket protocol owns the transport from now on; without its parser (which
        # holds this protocol's callbacks) nothing holds this one and refcounting frees it.
        self.parser = None  # type: ignore[assignment]


class WebSocketProtocol(WebSocketsSansIOProtocol):
    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        # No byte arrives after this; websockets' parser generator holds the connection.
        self.conn.parser = _discard()
        next(self.conn.parser)
