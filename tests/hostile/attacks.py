"""The hostile documents of the audit (issue 15), and a guard that /healthz answers meanwhile."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import httpx
import orjson
from websockets.asyncio.client import ClientConnection, connect

T = TypeVar("T")
GUARD_S = 8.0  # generous: a hang or a stall fails, a slow machine does not
HEALTHZ_GUARD_S = 3.0
PROTOCOL = "graphql-transport-ws"


def fragment_bomb(levels: int = 40) -> str:
    """1.9 KB: each fragment spreads the next twice, 2^levels paths to the innermost one."""
    fragments = " ".join(
        f"fragment F{i} on Stock {{ symbol ...F{i + 1} ...F{i + 1} }}" for i in range(levels)
    )
    inner = f"fragment F{levels} on Stock {{ symbol }}"
    return f'query {{ stock(symbol: "AAPL") {{ ...F0 }} }} {fragments} {inner}'


def duplicated_fields(times: int = 490) -> str:
    """Validation work for free before: the same field selected `times` times."""
    return "{ stocks(first: 1) { nodes { " + "quote { price } " * times + "} } }"


def many_typenames(times: int = 500) -> str:
    return "{ " + "__typename " * times + "}"


def huge_document(size: int) -> str:
    return "{ __typename }" + " " * size


async def healthz_meanwhile(url: str, work: Awaitable[T]) -> T:
    """Run `work` within the guard while asking /healthz; fail if /healthz stalls."""
    task = asyncio.ensure_future(work)
    slowest = 0.0
    async with httpx.AsyncClient(base_url=url, timeout=HEALTHZ_GUARD_S) as client:
        deadline = time.monotonic() + GUARD_S
        while not task.done():
            assert time.monotonic() < deadline, f"no answer within {GUARD_S} s"
            started = time.monotonic()
            response = await client.get("/healthz")
            assert response.status_code == 200
            slowest = max(slowest, time.monotonic() - started)
            await asyncio.sleep(0.05)
        response = await client.get("/healthz")
        assert response.status_code == 200
    assert slowest < HEALTHZ_GUARD_S
    return await task


@asynccontextmanager
async def ws_session(ws_url: str, **kwargs: Any) -> AsyncIterator[ClientConnection]:
    """A graphql-transport-ws connection that has been acknowledged."""
    async with connect(ws_url, subprotocols=[PROTOCOL], **kwargs) as ws:  # type: ignore[list-item]
        await ws.send(orjson.dumps({"type": "connection_init", "payload": {}}).decode())
        ack = orjson.loads(await asyncio.wait_for(ws.recv(), GUARD_S))
        assert ack["type"] == "connection_ack", ack
        yield ws


async def subscribe(ws: ClientConnection, op_id: str, payload: Any) -> dict[str, Any]:
    """Send a subscribe message and return the first message about it."""
    # json, not orjson: it writes a lone surrogate as the escape "\ud800" instead of refusing.
    await ws.send(json.dumps({"id": op_id, "type": "subscribe", "payload": payload}))
    message: dict[str, Any] = orjson.loads(await asyncio.wait_for(ws.recv(), GUARD_S))
    return message


def codes(errors: list[dict[str, Any]]) -> list[str]:
    return [e.get("extensions", {}).get("code") for e in errors]
