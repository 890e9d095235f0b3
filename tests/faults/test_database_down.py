"""PostgreSQL unreachable: every path answers 503 with Retry-After, logs little, and heals."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from app.apikeys import create_key
from app.config import Settings
from app.db import Database
from app.main import create_app
from tests.conftest import serve
from tests.factories.stocks import make_stock
from tests.faults.conftest import app_logs, relayed_database
from tests.liveserver import PROTOCOL, live_server, receive, send, subscribe, ws_client

ONE_STOCK = '{ stock(symbol: "AAPL") { symbol } }'


def mention(external_id: str) -> dict[str, Any]:
    return {
        "source": "NEWS",
        "externalId": external_id,
        "text": "$AAPL beats estimates",
        "publishedAt": "2026-01-02T10:00:00Z",
    }


async def prepare(db: Database) -> str:
    if db.dialect != "postgresql":
        pytest.skip("the relay cuts a PostgreSQL server's connections")
    async with db.sessionmaker.begin() as session:
        await make_stock(session, "AAPL")
    token, _ = await create_key(db, "pusher", scopes=["read", "ingest"])
    return token


def fault_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"cache_enabled": False, "db_pool_timeout_s": 1.0})


async def calls(client: httpx.AsyncClient, token: str, ingest: str, n: int) -> list[httpx.Response]:
    keyed = {"Authorization": f"Bearer {token}"}
    answers = []
    for i in range(n):
        answers.append(await client.post("/graphql", json={"query": ONE_STOCK}))
        answers.append(await client.post("/graphql", json={"query": ONE_STOCK}, headers=keyed))
        body = {"query": ingest, "variables": {"mentions": [mention(f"down{i}")]}}
        answers.append(await client.post("/graphql", json=body, headers=keyed))
    return answers


async def test_every_http_path_answers_503_with_retry_after_and_the_pool_heals(
    db: Database, settings: Settings, operations: dict[str, str]
) -> None:
    token = await prepare(db)
    ingest = operations["IngestMentions"]
    keyed = {"Authorization": f"Bearer {token}"}
    async with relayed_database(fault_settings(settings)) as (relay, relayed):
        app = create_app(relayed)
        async with serve(app) as client:
            assert (await client.post("/graphql", json={"query": ONE_STOCK})).status_code == 200
            with app_logs() as logs:
                await relay.stop()  # PostgreSQL goes away
                started = time.monotonic()
                down = await calls(client, token, ingest, 4)
                elapsed = time.monotonic() - started
                ready = await client.get("/readyz")
                live = await client.get("/livez")
            await relay.start()  # and comes back: the pool must heal without a restart
            healed = None
            for _ in range(50):
                answer = await client.post("/graphql", json={"query": ONE_STOCK}, headers=keyed)
                if answer.status_code == 200:
                    healed = answer
                    break
                await asyncio.sleep(0.1)
            body = {"query": ingest, "variables": {"mentions": [mention("after")]}}
            stored = await client.post("/graphql", json=body, headers=keyed)

    for answer in down:
        assert answer.status_code == 503, answer.text
        assert answer.headers["content-type"].startswith("application/json")
        assert int(answer.headers["retry-after"]) >= 1
        errors = answer.json()["errors"]
        assert {e["extensions"]["code"] for e in errors} == {"SERVICE_UNAVAILABLE"}
        assert "127.0.0.1" not in answer.text and str(relay.port) not in answer.text
    assert elapsed < 12 * 3  # generous: each failing request is a refused connect, not a hang
    assert ready.status_code == 503 and ready.json()["database"] == "down"
    assert live.status_code == 200
    assert healed is not None and healed.json()["data"] == {"stock": {"symbol": "AAPL"}}
    assert stored.json()["data"]["ingestMentions"]["accepted"] == 1
    # One line per failing operation at most, rate-limited, and no traceback at all.
    assert 1 <= len(logs.lines()) <= 8
    assert logs.tracebacks() == 0


async def test_websocket_init_with_a_key_is_closed_1013_while_the_database_is_unreachable(
    db: Database, settings: Settings
) -> None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    token = await prepare(db)
    async with (
        relayed_database(fault_settings(settings)) as (relay, relayed),
        live_server(relayed) as server,
    ):
        await relay.stop()
        async with connect(server.ws_url, subprotocols=[PROTOCOL]) as ws:  # type: ignore[list-item]
            await send(ws, {"type": "connection_init", "payload": {"apiKey": token}})
            with pytest.raises(ConnectionClosed) as closed:
                await receive(ws)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1013
    assert closed.value.rcvd.reason.startswith("SERVICE_UNAVAILABLE")


async def test_subscribing_while_the_database_is_unreachable_is_a_retryable_error(
    db: Database, settings: Settings, operations: dict[str, str]
) -> None:
    await prepare(db)
    async with (
        relayed_database(fault_settings(settings)) as (relay, relayed),
        live_server(relayed) as server,
        ws_client(server) as ws,
    ):
        await relay.stop()
        await subscribe(ws, "m", operations["LiveMentions"], {"symbols": ["AAPL"]})
        message = await receive(ws)
    assert message["type"] in ("next", "error")
    errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
    assert {e["extensions"]["code"] for e in errors} == {"SERVICE_UNAVAILABLE"}
    assert str(relay.port) not in str(message) and "127.0.0.1" not in str(message)


async def test_a_frozen_database_answers_within_the_statement_timeout_and_heals(
    db: Database, settings: Settings
) -> None:
    token = await prepare(db)
    keyed = {"Authorization": f"Bearer {token}"}
    frozen_settings = fault_settings(settings).model_copy(update={"statement_timeout_ms": 500})
    async with relayed_database(frozen_settings) as (relay, relayed):
        app = create_app(relayed)
        async with serve(app) as client:
            assert (await client.post("/graphql", json={"query": ONE_STOCK})).status_code == 200
            relay.delay_s = 30.0  # every answer from PostgreSQL now hangs
            started = time.monotonic()
            frozen = [
                await client.post("/graphql", json={"query": ONE_STOCK}, headers=keyed)
                for _ in range(2)
            ]
            elapsed = time.monotonic() - started
            relay.delay_s = 0.0
            healed = None
            for _ in range(100):
                answer = await client.post("/graphql", json={"query": ONE_STOCK}, headers=keyed)
                if answer.status_code == 200:
                    healed = answer
                    break
                await asyncio.sleep(0.1)
    for answer in frozen:
        assert answer.status_code == 503, answer.text
        assert answer.json()["errors"][0]["extensions"]["code"] in (
            "SERVICE_UNAVAILABLE",
            "TIMEOUT",
        )
    assert elapsed < 10  # generous: two requests, each bounded near the statement timeout
    assert healed is not None
