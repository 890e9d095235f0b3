"""uvicorn's HTTP and WebSocket protocols, with the reference cycles of a closed connection broken.

A connection's objects that sit in a reference cycle are freed only by a garbage collection of
the generation they reached, and a connection lives long enough to reach the oldest one: each
closed WebSocket then waited for a full collection, which with 10,000 open connections holds the
event loop for hundreds of milliseconds (issue 19). Two cycles of the server's own protocols
were left by every WebSocket (found with `gc.DEBUG_SAVEALL`, tests/app/test_connections.py):
httptools' parser calls back into the HTTP protocol that owns it, and websockets' parser is a
generator whose frame holds its connection. Both are cut once they can do nothing more, so
refcounting frees a closed connection as soon as its last task ends.

`serve` (app/cli/serve.py) names these classes; `uvicorn --http app.http.connections:HttpProtocol
--ws app.http.connections:WebSocketProtocol` does the same from uvicorn's command line.
"""

from __future__ import annotations

from collections.abc import Generator

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

HTTP = "app.http.connections:HttpProtocol"
WEBSOCKET = "app.http.connections:WebSocketProtocol"


def _discard() -> Generator[None, None, None]:
    """A parser that reads nothing and, unlike websockets' own `discard`, holds no connection."""
    while True:
        yield


class HttpProtocol(HttpToolsProtocol):
    def handle_websocket_upgrade(self) -> None:
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
