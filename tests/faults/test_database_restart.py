"""A private PostgreSQL restarted under traffic: 503s at most, nothing lost or doubled."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from app import migrate
from app.apikeys import create_key
from app.config import Settings
from app.db import create_database
from app.main import create_app
from app.models import Mention, SentimentBucket
from tests.conftest import serve
from tests.factories.stocks import make_stock
from tests.faults.conftest import app_logs
from tests.faults.services import PG_BIN, PostgresServer

ONE_STOCK = '{ stock(symbol: "AAPL") { symbol } }'


@pytest.fixture
async def private_postgres() -> AsyncIterator[PostgresServer]:
    if not (PG_BIN / "initdb").exists():
        pytest.skip(f"no PostgreSQL binaries in {PG_BIN}")
    server = PostgresServer()
    try:
        await asyncio.to_thread(server.init)
        await asyncio.to_thread(server.start)
        yield server
    finally:
        await asyncio.to_thread(server.stop)


def item(external_id: str) -> dict[str, Any]:
    return {
        "source": "NEWS",
        "externalId": external_id,
        "text": "$AAPL beats",
        "publishedAt": "2026-01-02T10:00:00Z",
    }


async def traffic(
    client: httpx.AsyncClient, token: str, ingest: str, prefix: str, until: asyncio.Future[None]
) -> list[tuple[str, httpx.Response]]:
    """Reads and one-mention ingests, one after another, until `until` is done (3 at least)."""
    keyed = {"Authorization": f"Bearer {token}"}
    answers: list[tuple[str, httpx.Response]] = []
    n = 0
    while not until.done() or n < 3:
        n += 1
        external_id = f"{prefix}{n}"
        body = {"query": ingest, "variables": {"mentions": [item(external_id)]}}
        answers.append(("read", await client.post("/graphql", json={"query": ONE_STOCK})))
        answers.append((external_id, await client.post("/graphql", json=body, headers=keyed)))
        await asyncio.sleep(0.01)
    return answers


async def test_a_restart_under_traffic_costs_retryable_503s_at_most_and_the_pool_heals(
    private_postgres: PostgresServer, operations: dict[str, str]
) -> None:
    url = private_postgres.url.replace("postgresql://", "postgresql+asyncpg://")
    settings = Settings(
        database_url=url,
        log_level="warning",
        cache_enabled=False,
        db_pool_timeout_s=1.0,
        cache_warm_on_start=False,
        cache_warm_interval_s=0,
    )
    db = create_database(settings)
    await migrate.upgrade(db)
    async with db.sessionmaker.begin() as session:
        await make_stock(session, "AAPL")
    token, _ = await create_key(db, "pusher", scopes=["read", "ingest"])
    await db.dispose()
    ingest = operations["IngestMentions"]

    async with serve(create_app(settings)) as client:
        done = asyncio.get_running_loop().create_future()
        done.set_result(None)
        warm = await traffic(client, token, ingest, "w", done)
        with app_logs() as logs:
            restarted = asyncio.ensure_future(asyncio.to_thread(private_postgres.restart))
            during = await asyncio.wait_for(traffic(client, token, ingest, "r", restarted), 60)
            after = await traffic(client, token, ingest, "a", done)
        acknowledged = {
            key
            for key, answer in warm + during + after
            if key != "read" and answer.status_code == 200
        }
        # Resending everything that was attempted stores each mention once, whatever happened.
        attempted = [key for key, _ in warm + during + after if key != "read"]
        resend = {"query": ingest, "variables": {"mentions": [item(k) for k in attempted]}}
        final = await client.post(
            "/graphql", json=resend, headers={"Authorization": f"Bearer {token}"}
        )

    for _, answer in during:
        assert answer.status_code in (200, 503), answer.text
        assert answer.headers["content-type"].startswith("application/json")
        if answer.status_code == 503:
            codes = {e["extensions"]["code"] for e in answer.json()["errors"]}
            assert codes <= {"SERVICE_UNAVAILABLE", "RETRYABLE"}, answer.text
            assert "retry-after" in answer.headers
    assert all(answer.status_code == 200 for _, answer in after)  # the pool healed by itself
    result = final.json()["data"]["ingestMentions"]
    assert result["accepted"] + result["duplicates"] == len(attempted)
    assert result["duplicates"] >= len(acknowledged)
    db = create_database(settings)
    try:
        async with db.sessionmaker() as session:
            stored = (await session.execute(select(func.count()).select_from(Mention))).scalar()
            counted = (
                await session.execute(select(func.sum(SentimentBucket.mention_count)))
            ).scalar()
    finally:
        await db.dispose()
    assert stored == counted == len(attempted)
    assert logs.tracebacks() == 0
    assert len(logs.lines()) <= 12, logs.lines()
