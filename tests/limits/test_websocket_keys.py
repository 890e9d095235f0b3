"""WebSockets carry the API key in `connection_init`; an unknown or revoked one closes them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import MutableMapping
from typing import Any

from fastapi import FastAPI

from app.apikeys import create_key, revoke_key
from app.config import Settings
from app.db import Database
from app.main import create_app
from tests.conftest import serve


async def connection_init(app: FastAPI, payload: dict[str, str]) -> dict[str, Any]:
    """Open a graphql-transport-ws socket on the app, send `connection_init`, return the answer."""
    incoming: asyncio.Queue[MutableMapping[str, Any]] = asyncio.Queue()
    outgoing: asyncio.Queue[MutableMapping[str, Any]] = asyncio.Queue()
    scope = {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "scheme": "ws",
        "path": "/graphql",
        "raw_path": b"/graphql",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), (b"sec-websocket-protocol", b"graphql-transport-ws")],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "subprotocols": ["graphql-transport-ws"],
        "state": {},
        "app": app,
    }
    await incoming.put({"type": "websocket.connect"})
    task = asyncio.create_task(app(scope, incoming.get, outgoing.put))
    try:
        accepted = await asyncio.wait_for(outgoing.get(), 5)
        assert accepted["type"] == "websocket.accept"
        init = {"type": "connection_init", "payload": payload}
        await incoming.put({"type": "websocket.receive", "text": json.dumps(init)})
        answer = await asyncio.wait_for(outgoing.get(), 5)
    finally:
        await incoming.put({"type": "websocket.disconnect", "code": 1000})
        await asyncio.wait_for(task, 5)
    if answer["type"] == "websocket.close":
        return {"closed": answer["code"]}
    message: dict[str, Any] = json.loads(answer["text"])
    return message


async def test_a_valid_key_in_connection_init_is_acknowledged(
    db: Database, settings: Settings
) -> None:
    token, _ = await create_key(db, "live")
    app = create_app(settings)
    async with serve(app):
        acknowledged = await connection_init(app, {"authorization": f"Bearer {token}"})
        anonymous = await connection_init(app, {})
    assert acknowledged == {"type": "connection_ack"}
    assert anonymous == {"type": "connection_ack"}


async def test_an_unknown_or_revoked_key_in_connection_init_closes_the_socket(
    db: Database, settings: Settings
) -> None:
    token, key = await create_key(db, "gone")
    await revoke_key(db, key.id)
    app = create_app(settings)
    async with serve(app):
        revoked = await connection_init(app, {"authorization": f"Bearer {token}"})
        unknown = await connection_init(app, {"authorization": "Bearer ic_nope"})
        malformed = await connection_init(app, {"authorization": "Basic abc"})
    assert revoked == unknown == malformed == {"closed": 4403}
