"""Write ready-made WebSocket frames straight to a connection's transport, where that is safe.

Sending one message through Starlette and uvicorn costs a task wake-up, several wrapper calls and
a frame serialisation per subscriber. A live event goes to thousands of connections with the same
bytes, so the fan-out frames it once and writes it to each socket in one loop. That is only safe
while uvicorn's own sans-I/O protocol is open, has not sent a close, and its transport is below the
high-water mark (uvicorn's `send` would wait there): otherwise the caller falls back to the
ordinary, queued path, which keeps the backpressure and slow-consumer rules.
"""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.frames import Frame, Opcode
from websockets.protocol import State

SCOPE_KEY = "insitechart.wire"


class ExposeWire:
    """ASGI middleware: remember the server's own `send` of a WebSocket in its scope."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        scope[SCOPE_KEY] = send
        try:
            await self.app(scope, receive, send)
        finally:
            # uvicorn's protocol holds the scope and `send` holds the protocol: a cycle that only
            # a full collection would free once the connection closed (app/http/connections.py).
            scope.pop(SCOPE_KEY, None)


def text_frame(data: bytes) -> bytes:
    """One unmasked, uncompressed text frame (a server's frame), FIN set."""
    return Frame(Opcode.TEXT, data).serialize(mask=False)


class Wire:
    """Direct writes to one uvicorn WebSocket connection."""

    __slots__ = ("protocol",)

    def __init__(self, protocol: WebSocketsSansIOProtocol) -> None:
        self.protocol = protocol

    @classmethod
    def of(cls, scope: dict[str, Any]) -> Wire | None:
        """The wire of a WebSocket scope, if uvicorn's sans-I/O protocol serves it."""
        protocol = getattr(scope.get(SCOPE_KEY), "__self__", None)
        return cls(protocol) if isinstance(protocol, WebSocketsSansIOProtocol) else None

    def write(self, frame: bytes) -> bool:
        """Write `frame` now if the connection is open and not backed up; False otherwise."""
        protocol = self.protocol
        if (
            protocol.close_sent
            or protocol.disconnected
            or not protocol.writable.is_set()
            or protocol.conn.state is not State.OPEN
        ):
            return False
        transport = protocol.transport
        if transport.is_closing():
            return False
        transport.write(frame)
        return True
