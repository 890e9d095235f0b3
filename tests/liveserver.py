"""A real uvicorn server on 127.0.0.1 (OS-assigned port) and a graphql-transport-ws client."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Literal

import orjson
import uvicorn
from fastapi import FastAPI
from websockets.asyncio.client import ClientConnection, connect

from app.config import Settings
from app.http import connections
from app.main import create_app
from app.resources import Resources

PROTOCOL = "graphql-transport-ws"


@dataclass
class LiveServer:
    app: FastAPI
    port: int

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"

    @property
    def resources(self) -> Resources:
        resources: Resources = self.app.state.resources
        return resources


@asynccontextmanager
async def live_server(settings: Settings) -> AsyncIterator[LiveServer]:
    app = create_app(settings)
    async with live_asgi(app, ws_max_size=settings.ws_max_message_bytes) as port:
        yield LiveServer(app, port)


@asynccontextmanager
async def live_asgi(
    app: Any, ws_max_size: int = 16 * 1024 * 1024, lifespan: Literal["on", "off"] = "on"
) -> AsyncIterator[int]:
    """Serve any ASGI app with uvicorn on 127.0.0.1; its port."""
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        log_level="warning",
        lifespan=lifespan,
        http=connections.HTTP,
        ws=connections.WEBSOCKET,
        ws_max_queue=4,
        ws_max_size=ws_max_size,
        server_header=False,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    port: int = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield port
    finally:
        server.should_exit = True
        await task


async def wait_for(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(0.01)


async def send(ws: ClientConnection, message: dict[str, Any]) -> None:
    await ws.send(orjson.dumps(message).decode())


async def receive(ws: ClientConnection, timeout_s: float = 5.0) -> dict[str, Any]:
    raw = await asyncio.wait_for(ws.recv(), timeout_s)
    message: dict[str, Any] = orjson.loads(raw)
    return message


@asynccontextmanager
async def ws_client(
    server: LiveServer, init: dict[str, Any] | None = None, **kwargs: Any
) -> AsyncIterator[ClientConnection]:
    """A connection that has sent `connection_init` with `init` and received the ack."""
    async with connect(server.ws_url, subprotocols=[PROTOCOL], **kwargs) as ws:  # type: ignore[list-item]
        await send(ws, {"type": "connection_init", "payload": init or {}})
        ack = await receive(ws)
        assert ack["type"] == "connection_ack", ack
        yield ws


async def subscribe(
    ws: ClientConnection, op_id: str, query: str, variables: dict[str, Any]
) -> None:
    await send(
        ws,
        {"id": op_id, "type": "subscribe", "payload": {"query": query, "variables": variables}},
    )
