"""Transient database failures of an ingest: retried inside the server, then RETRYABLE."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from sqlalchemy import func, select, text

from app.apikeys import create_key
from app.config import Settings
from app.db import Database
from app.main import create_app
from app.models import Mention, SentimentBucket
from tests.conftest import serve
from tests.factories.stocks import make_stock


@asynccontextmanager
async def failing_inserts(db: Database, failures: int) -> AsyncIterator[None]:
    """The first `failures` inserted mentions raise "deadlock detected" (SQLSTATE 40P01)."""
    async with db.engine.begin() as conn:
        await conn.execute(text("CREATE SEQUENCE fail_count"))
        await conn.execute(
            text(
                "CREATE FUNCTION fail_row() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                f"IF nextval('fail_count') <= {failures} THEN "
                "RAISE EXCEPTION 'deadlock detected' USING ERRCODE = '40P01'; END IF; "
                "RETURN NEW; END $$"
            )
        )
        await conn.execute(
            text(
                "CREATE TRIGGER fail_insert BEFORE INSERT ON mentions "
                "FOR EACH ROW EXECUTE FUNCTION fail_row()"
            )
        )
    try:
        yield
    finally:
        async with db.engine.begin() as conn:
            await conn.execute(text("DROP TRIGGER fail_insert ON mentions"))
            await conn.execute(text("DROP FUNCTION fail_row()"))
            await conn.execute(text("DROP SEQUENCE fail_count"))


def batch(*ids: str) -> list[dict[str, Any]]:
    return [
        {
            "source": "REDDIT",
            "externalId": external_id,
            "text": "$AAPL great quarter",
            "publishedAt": "2026-01-02T10:00:00Z",
        }
        for external_id in ids
    ]


async def counts(db: Database) -> tuple[int, int]:
    async with db.sessionmaker() as session:
        mentions = (await session.execute(select(func.count()).select_from(Mention))).scalar_one()
        buckets = (
            await session.execute(select(func.coalesce(func.sum(SentimentBucket.mention_count), 0)))
        ).scalar_one()
    return int(mentions), int(buckets)


@pytest.fixture
async def token(db: Database) -> str:
    if db.dialect != "postgresql":
        pytest.skip("the failing trigger is PL/pgSQL")
    async with db.sessionmaker.begin() as session:
        await make_stock(session, "AAPL")
    key, _ = await create_key(db, "pusher", scopes=["read", "ingest"])
    return key


async def test_a_transient_failure_is_retried_inside_the_server_and_stored_once(
    db: Database, settings: Settings, operations: dict[str, str], token: str
) -> None:
    async with serve(create_app(settings)) as client, failing_inserts(db, failures=2):
        response = await client.post(
            "/graphql",
            json={
                "query": operations["IngestMentions"],
                "variables": {"mentions": batch("a", "b")},
            },
            headers={"Authorization": f"Bearer {token}"},
        )
    assert response.status_code == 200
    assert response.json()["data"]["ingestMentions"]["accepted"] == 2
    assert await counts(db) == (2, 2)


async def test_a_failure_outlasting_the_retries_is_retryable_and_a_resend_stores_once(
    db: Database, settings: Settings, operations: dict[str, str], token: str
) -> None:
    quick = settings.model_copy(update={"ingest_retry_attempts": 2})
    body = {"query": operations["IngestMentions"], "variables": {"mentions": batch("c", "d")}}
    headers = {"Authorization": f"Bearer {token}"}
    async with serve(create_app(quick)) as client:
        async with failing_inserts(db, failures=1000):
            refused = await client.post("/graphql", json=body, headers=headers)
        assert await counts(db) == (0, 0)
        resent = await client.post("/graphql", json=body, headers=headers)
        again = await client.post("/graphql", json=body, headers=headers)

    assert refused.status_code == 503
    assert refused.headers["content-type"].startswith("application/json")
    assert int(refused.headers["retry-after"]) >= 1
    (error,) = refused.json()["errors"]
    assert error["extensions"]["code"] == "RETRYABLE" and error["path"] == ["ingestMentions"]
    assert resent.json()["data"]["ingestMentions"]["accepted"] == 2
    assert again.json()["data"]["ingestMentions"] == {
        "accepted": 0,
        "duplicates": 2,
        "rejected": [],
    }
    assert await counts(db) == (2, 2)
