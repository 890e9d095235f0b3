"""uvicorn's HTTP and WebSocket protocols, with the reference cycles of a closed connection broken.

A connection's objects that sit in a reference cycle are freed only by a garbage collection of
the generation they reached, and a connection lives long enough to reach the oldest one: each
closed WebSocket then waited for a full collection, which with 10,000 open connections holds the
event loop for hundreds of milliseconds (issue 19). Two cycles of the server's own protocols
were left by every WebSocket (found with `gc.DEBUG_SAVEALL`, tests/app/test_connections.py):
httptools' parser calls back into the HTTP protocol that owns it, and websockets' parser is a
generator whose frame holds its connection. Both are cut once they can do nothing more, so
refcounting frees a closed connection as soon as its last task ends.

The HTTP protocol also sends a response's head with its body: uvicorn writes the head when the
app starts the response and the body right after, two system calls where one does.

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


class HeadWithBody:
    """A transport that holds a write until the next one and sends the two in one write.

    uvicorn writes a response's head as the app starts the response, and its body as the app
    sends it, in the same step of the app's task: the body's write now carries the head (no
    wait). A write no other follows (a HEAD response's head) goes out when the turn of the event
    loop is over; closing writes what is held first. Everything else is the transport's own.
    """

    __slots__ = ("_held", "_loop", "transport")

    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        self._held: bytes | None = None
        self._loop = asyncio.get_running_loop()

    def write(self, data: bytes) -> None:
        held = self._held
        if held is None:
            self._held = data
            self._loop.call_soon(self.flush)
            return
        self._held = None
        # uvloop sends the two in one writev, without joining a large body into a copy.
        self.transport.writelines((held, data))

    def flush(self) -> None:
        held, self._held = self._held, None
        if held is not None and not self.transport.is_closing():
            self.transport.write(held)

    def close(self) -> None:
        self.flush()
        self.transport.close()

    def abort(self) -> None:
        self._held = None
        self.transport.abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)


class HttpProtocol(HttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(HeadWithBody(transport))  # type: ignore[arg-type]

    def handle_websocket_upgrade(self) -> None:
        # The WebSocket protocol gets the socket's own transport (nothing was written yet).
        held: HeadWithBody = self.transport  # type: ignore[assignment]
        held.flush()
        self.transport = held.transport
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
