"""Protocol violations, authentication and connection limits get their close codes."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from app.apikeys import create_key, revoke_key
from app.config import Settings
from app.db import Database
from schema.live import ConnectionLimits
from tests.factories.stocks import make_stock
from tests.liveserver import (
    PROTOCOL,
    live_server,
    receive,
    send,
    subscribe,
    wait_for,
    ws_client,
)


async def close_code(ws: ClientConnection) -> int | None:
    """Read until the server closes the connection; return its close code."""
    with pytest.raises(ConnectionClosed):
        while True:
            await asyncio.wait_for(ws.recv(), 5)
    return ws.close_code


def connect_raw(url: str) -> Any:
    return connect(url, subprotocols=[PROTOCOL])  # type: ignore[list-item]


async def test_connection_init_with_unknown_or_revoked_key_is_closed_4403(
    db: Database, settings: Settings
) -> None:
    token, record = await create_key(db, "gone")
    await revoke_key(db, record.id)
    async with live_server(settings) as server:
        for payload in ({"apiKey": token}, {"Authorization": "Bearer ic_nope"}, {"apiKey": 7}):
            async with connect_raw(server.ws_url) as ws:
                await send(ws, {"type": "connection_init", "payload": payload})
                if payload == {"apiKey": 7}:  # not a string: ignored, anonymous read access
                    assert (await receive(ws))["type"] == "connection_ack"
                    continue
                assert await close_code(ws) == 4403


async def test_protocol_violations_get_the_protocols_close_codes(
    db: Database, settings: Settings, operations: dict[str, str]
) -> None:
    async with db.sessionmaker.begin() as session:
        await make_stock(session, "AAPL")
    fast_timeout = settings.model_copy(update={"realtime_init_timeout_s": 0.2})
    async with live_server(fast_timeout) as server:
        async with connect_raw(server.ws_url) as ws:  # subscribe before connection_ack
            await subscribe(ws, "1", operations["LiveMentions"], {"symbols": ["AAPL"]})
            assert await close_code(ws) == 4401
        async with connect_raw(server.ws_url) as ws:  # no connection_init in time
            assert await close_code(ws) == 4408
        async with connect_raw(server.ws_url) as ws:  # not a protocol message
            await ws.send('{"type": "hello"}')
            assert await close_code(ws) == 4400
        async with ws_client(server) as ws:  # a second connection_init
            await send(ws, {"type": "connection_init", "payload": {}})
            assert await close_code(ws) == 4429
        async with ws_client(server) as ws:  # the same operation id twice
            await subscribe(ws, "x", operations["LiveMentions"], {"symbols": ["AAPL"]})
            await subscribe(ws, "x", operations["LiveMentions"], {"symbols": ["AAPL"]})
            assert await close_code(ws) == 4409


async def test_connections_beyond_the_client_or_process_limit_are_closed_4429(
    db: Database, settings: Settings
) -> None:
    token, record = await create_key(db, "greedy")
    limited = settings.model_copy(
        update={"realtime_max_connections_per_client": 2, "realtime_max_connections": 3}
    )
    async with live_server(limited) as server:
        limits: ConnectionLimits = server.app.state.ws_limits
        async with ws_client(server, {"apiKey": token}), ws_client(server, {"apiKey": token}):
            async with connect_raw(server.ws_url) as third:
                await send(third, {"type": "connection_init", "payload": {"apiKey": token}})
                assert await close_code(third) == 4429
                assert "this client (limit 2)" in str(third.close_reason)
            async with ws_client(server):  # anonymous: another client, third of the process
                async with connect_raw(server.ws_url) as fourth:
                    await send(fourth, {"type": "connection_init", "payload": {}})
                    assert await close_code(fourth) == 4429
                    assert "this server (limit 3)" in str(fourth.close_reason)
        # Closed connections are released: the same key may connect again.
        await wait_for(lambda: limits.total == 0)
        async with ws_client(server, {"apiKey": token}), ws_client(server, {"apiKey": token}):
            assert limits.by_client == {f"key:{record.id}": 2}
