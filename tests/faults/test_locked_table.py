"""A table locked by someone else: a retryable TIMEOUT, and no statement outlives its request."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from app.config import Settings
from app.db import Database
from app.main import create_app
from tests.conftest import serve
from tests.factories.stocks import make_stock
from tests.faults.conftest import app_logs

FEED = "{ stocks(first: 5) { nodes { symbol mentions(first: 3) { nodes { text } } } } }"


async def waiting_statements(db: Database) -> int:
    """Statements of the app (application_name insitechart) waiting on a lock right now."""
    async with db.engine.connect() as conn:
        count = await conn.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'insitechart' "
                "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
            )
        )
    return int(count or 0)


@pytest.mark.parametrize(
    "overrides",
    [
        {"statement_timeout_ms": 400},
        # No statement timeout of its own: the execution timeout bounds the SQL as well.
        {"statement_timeout_ms": 0, "limits_execution_timeout_s": 0.6},
    ],
    ids=["statement-timeout", "execution-timeout"],
)
async def test_a_locked_table_answers_timeout_and_frees_the_connection(
    db: Database, settings: Settings, overrides: dict[str, float]
) -> None:
    if db.dialect != "postgresql":
        pytest.skip("LOCK TABLE is PostgreSQL's")
    async with db.sessionmaker.begin() as session:
        await make_stock(session, "AAPL")
    app = create_app(settings.model_copy(update={"cache_enabled": False, **overrides}))
    async with serve(app) as client:
        engine = app.state.resources.db.engine
        with app_logs() as logs:
            async with db.engine.connect() as locker:
                await locker.execute(text("LOCK TABLE mentions IN ACCESS EXCLUSIVE MODE"))
                async with asyncio.timeout(10):
                    answers = [
                        await client.post("/graphql", json={"query": FEED}) for _ in range(3)
                    ]
                # The statement started a moment after its request: allow that moment.
                for _ in range(20):
                    waiting = await waiting_statements(db)
                    in_use = engine.pool.checkedout()
                    if waiting == in_use == 0:
                        break
                    await asyncio.sleep(0.1)
                await locker.rollback()
        after = await client.post("/graphql", json={"query": FEED})

    for answer in answers:
        assert answer.status_code in (503, 504), answer.text
        assert answer.headers["content-type"].startswith("application/json")
        codes = {e["extensions"]["code"] for e in answer.json()["errors"]}
        assert codes <= {"TIMEOUT", "EXECUTION_TIMEOUT"} and codes
        assert "INTERNAL_SERVER_ERROR" not in answer.text
    assert waiting == 0  # the server cancelled the SQL; nothing still waits on the lock
    assert in_use == 0  # and every connection went back to the pool
    assert after.status_code == 200 and after.json()["data"]["stocks"]["nodes"][0]["symbol"]
    # One line per failing operation, plus perhaps the count an earlier burst left unlogged.
    assert logs.tracebacks() == 0 and len(logs.lines()) <= 4
