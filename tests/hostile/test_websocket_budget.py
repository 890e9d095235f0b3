"""A refused subscribe is charged a point, and one connection runs a bounded number of
operations; both refusals are `error` messages with codes."""

from __future__ import annotations

import orjson

from app.config import Settings
from app.db import Database
from schema.budget import refusal_cost
from tests.factories.stocks import make_stock
from tests.hostile.attacks import codes, fragment_bomb, subscribe, ws_session
from tests.liveserver import live_server

LIVE = "subscription Live($s: [String!]!) { mentionAdded(symbols: $s) { id } }"


async def test_repeated_refused_subscribes_meet_the_budget(
    db: Database, settings: Settings
) -> None:
    cost = refusal_cost(fragment_bomb())  # one point, and one per 100 tokens
    assert cost > 1
    tight = settings.model_copy(
        update={"budget_anonymous_capacity": 3 * cost, "budget_anonymous_restore_per_s": 0.01}
    )
    async with live_server(tight) as server, ws_session(server.ws_url) as ws:
        seen = [(await subscribe(ws, str(i), {"query": fragment_bomb()})) for i in range(4)]
    assert [m["type"] for m in seen] == ["error"] * 4
    assert [codes(m["payload"]) for m in seen] == [["MAX_SELECTIONS_EXCEEDED"]] * 3 + [
        ["THROTTLED"]
    ]


async def test_operations_beyond_the_connection_limit_are_refused_with_a_code(
    db: Database, settings: Settings
) -> None:
    async with db.sessionmaker.begin() as session:
        await make_stock(session, "AAPL")
    limited = settings.model_copy(update={"realtime_max_operations_per_connection": 2})
    payload = {"query": LIVE, "variables": {"s": ["AAPL"]}}
    async with live_server(limited) as server, ws_session(server.ws_url) as ws:
        for op_id in ("a", "b"):
            message = {"id": op_id, "type": "subscribe", "payload": payload}
            await ws.send(orjson.dumps(message).decode())
        refused = await subscribe(ws, "c", payload)
    assert refused["type"] == "error"
    assert refused["id"] == "c"
    assert codes(refused["payload"]) == ["TOO_MANY_OPERATIONS"]
    assert refused["payload"][0]["extensions"]["limit"] == 2
