"""WebSocket `subscribe` passes the checks HTTP requests pass, before any parse; refusals are
`error` messages with codes, and /healthz answers meanwhile."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed

from tests.hostile.attacks import (
    GUARD_S,
    codes,
    duplicated_fields,
    fragment_bomb,
    healthz_meanwhile,
    huge_document,
    many_typenames,
    subscribe,
    ws_session,
)
from tests.hostile.conftest import Server

LIVE_OP = "subscription Live($symbols: [String!]!) { mentionAdded(symbols: $symbols) { id } }"


async def refusal(server: Server, payload: Any) -> dict[str, Any]:
    async def attempt() -> dict[str, Any]:
        async with ws_session(server.ws_url) as ws:
            return await subscribe(ws, "1", payload)

    return await healthz_meanwhile(server.url, attempt())


@pytest.mark.parametrize(
    ("query", "code"),
    [
        (huge_document(1_000_000), None),  # over WS_MAX_MESSAGE_BYTES: closed 1009
        (huge_document(40_000), "DOCUMENT_TOO_LARGE"),
        ("{ " + "a " * 3000 + "}", "MAX_TOKENS_EXCEEDED"),
        (fragment_bomb(), "MAX_SELECTIONS_EXCEEDED"),
        (duplicated_fields(), "MAX_SELECTIONS_EXCEEDED"),
        (many_typenames(), "MAX_SELECTIONS_EXCEEDED"),
        ("subscription { nope }", "GRAPHQL_VALIDATION_FAILED"),
    ],
    ids=["message", "document", "tokens", "fragments", "duplicates", "typenames", "invalid"],
)
async def test_a_hostile_subscribe_is_refused_with_a_code_before_it_costs(
    server: Server, query: str, code: str | None
) -> None:
    if code is None:

        async def oversized() -> int | None:
            async with ws_session(server.ws_url) as ws:
                with pytest.raises(ConnectionClosed):
                    await subscribe(ws, "1", {"query": query})
                return ws.close_code

        assert await healthz_meanwhile(server.url, oversized()) == 1009
        return
    message = await refusal(server, {"query": query})
    assert message["type"] == "error", message
    assert message["id"] == "1"
    assert codes(message["payload"]) == [code]


@pytest.mark.parametrize(
    ("payload", "code", "field"),
    [
        ({"query": 42}, "BAD_REQUEST", "query"),
        ({"query": LIVE_OP, "variables": [1]}, "BAD_REQUEST", "variables"),
        ({"query": LIVE_OP, "operationName": {"a": 1}}, "BAD_REQUEST", "operationName"),
        ("not an object", "BAD_REQUEST", "payload"),
        ({"query": LIVE_OP, "variables": {"symbols": ["\ud800"]}}, "BAD_USER_INPUT", None),
        ({"query": '{ stock(symbol: "\ud800") { id } }'}, "BAD_USER_INPUT", "query"),
    ],
    ids=["query", "variables", "operation-name", "payload", "surrogate-variable", "surrogate"],
)
async def test_a_malformed_subscribe_is_an_error_naming_the_field(
    server: Server, payload: Any, code: str, field: str | None
) -> None:
    message = await refusal(server, payload)
    assert message["type"] == "error", message
    assert codes(message["payload"]) == [code]
    if field is not None:
        assert message["payload"][0]["extensions"]["field"] == field


async def test_a_syntax_error_closes_4400_and_the_connection_stays_bounded(server: Server) -> None:
    async with ws_session(server.ws_url) as ws:
        with pytest.raises(ConnectionClosed):
            await subscribe(ws, "1", {"query": "subscription {"})
        assert ws.close_code == 4400


async def test_a_valid_subscription_still_runs_after_refusals(server: Server) -> None:
    async with ws_session(server.ws_url) as ws:
        refused = await subscribe(ws, "1", {"query": fragment_bomb()})
        assert refused["type"] == "error"
        payload = {"query": LIVE_OP, "variables": {"symbols": ["NOPE"]}}
        unknown = await subscribe(ws, "2", payload)
        assert unknown["type"] in ("error", "next")
        errors = unknown["payload"] if unknown["type"] == "error" else unknown["payload"]["errors"]
        assert codes(errors) == ["BAD_USER_INPUT"]
        await asyncio.wait_for(ws.ping(), GUARD_S)
