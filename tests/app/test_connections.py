"""A closed WebSocket leaves nothing that only a full garbage collection would free."""

from __future__ import annotations

import asyncio
import gc

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.server import ServerProtocol

from app.config import Settings
from app.db import Database
from tests.factories.stocks import make_stock
from tests.liveserver import live_server, receive, send, subscribe, ws_client

SERVER_SIDE = (HttpToolsProtocol, WebSocketsSansIOProtocol, ServerProtocol)


async def test_closed_subscriptions_leave_no_connection_object_to_a_full_collection(
    db: Database, settings: Settings, operations: dict[str, str]
) -> None:
    async with db.sessionmaker.begin() as session:
        await make_stock(session, "AAPL")
    quiet = settings.model_copy(update={"memory_trim_interval_s": 0})
    async with live_server(quiet) as server:
        gc.collect()
        for round_ in range(10):
            async with ws_client(server) as ws:
                query = operations["LiveSentiment" if round_ % 2 else "LiveMentions"]
                await subscribe(ws, "s", query, {"symbols": ["AAPL"]})
                await send(ws, {"type": "ping"})
                assert (await receive(ws))["type"] == "pong"
        await asyncio.sleep(0.2)  # the server sees the last close
        gc.set_debug(gc.DEBUG_SAVEALL)
        try:
            gc.collect()
            left = [o for o in gc.garbage if isinstance(o, SERVER_SIDE)]
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
    assert left == []  # each went with its last reference, not with a collection
