"""Ingest under conflict: overlapping shuffled batches, values the database refuses, bad items."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text

from app.config import Settings
from app.db import Database, create_database
from app.dbfaults import TIMEOUT, DatabaseFault
from app.ingest import ingest
from app.models import Mention, SentimentBucket, Stock
from app.resources import Resources
from app.timeutil import utcnow
from app.writes import write_rows
from tests.factories.mentions import mention
from tests.factories.stocks import make_stock

# Writers that wait for each other in turn may wait a while on a busy machine: a lock wait is
# not what these tests are about, a deadlock is.
PATIENT = {"db_pool_size": 20, "statement_timeout_ms": 0, "limits_execution_timeout_s": 60}


@pytest.fixture
async def resources(db: Database, settings: Settings) -> AsyncIterator[Resources]:
    async with db.sessionmaker.begin() as session:
        for symbol in ("AAPL", "TSLA", "MSFT"):
            await make_stock(session, symbol)
    res = Resources.open(settings.model_copy(update=PATIENT))
    try:
        yield res
    finally:
        await res.close()


@asynccontextmanager
async def slow_inserts(db: Database) -> AsyncIterator[None]:
    """Make each inserted mention take a millisecond, so that concurrent batches overlap."""
    async with db.engine.begin() as conn:
        await conn.execute(
            text(
                "CREATE FUNCTION slow_row() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN PERFORM pg_sleep(0.001); RETURN NEW; END $$"
            )
        )
        await conn.execute(
            text(
                "CREATE TRIGGER slow_insert BEFORE INSERT ON mentions "
                "FOR EACH ROW EXECUTE FUNCTION slow_row()"
            )
        )
    try:
        yield
    finally:
        async with db.engine.begin() as conn:
            await conn.execute(text("DROP TRIGGER slow_insert ON mentions"))
            await conn.execute(text("DROP FUNCTION slow_row()"))


async def warm_pool(db: Database, size: int) -> None:
    async def hold() -> None:
        async with db.engine.connect() as conn:
            await conn.execute(text("SELECT pg_sleep(0.05)"))

    await asyncio.gather(*(hold() for _ in range(size)))


def row(external_id: str, stock_id: int, published_at: datetime) -> dict[str, Any]:
    """A scored row as the ingest service builds it."""
    return {
        "stock_id": stock_id,
        "source": "NEWS",
        "external_id": external_id,
        "author": None,
        "text": "fine",
        "url": None,
        "published_at": published_at,
        "compound": 0.0,
        "positive": 0.0,
        "neutral": 1.0,
        "negative": 0.0,
    }


async def stored(db: Database) -> tuple[int, int, int]:
    """(mentions, distinct external ids, mentions counted in buckets)."""
    async with db.sessionmaker() as session:
        count = (await session.execute(select(func.count()).select_from(Mention))).scalar_one()
        distinct = (
            await session.execute(select(func.count(func.distinct(Mention.external_id))))
        ).scalar_one()
        buckets = (
            await session.execute(select(func.coalesce(func.sum(SentimentBucket.mention_count), 0)))
        ).scalar_one()
    return int(count), int(distinct), int(buckets)


async def test_overlapping_batches_in_shuffled_orders_all_succeed_and_store_each_once(
    resources: Resources, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    if db.dialect != "postgresql":
        pytest.skip("row-lock order matters where writers run concurrently (PostgreSQL)")
    now = utcnow()
    batch = [
        mention(
            f"m{i:03d}",
            text=f"${('AAPL', 'TSLA', 'MSFT')[i % 3]} day {i}",
            published_at=now - timedelta(hours=i % 6, minutes=1),
        )
        for i in range(150)
    ]
    caplog.set_level(logging.INFO, logger="insitechart.ingest")
    rng = random.Random(16)
    orders = [rng.sample(batch, len(batch)) for _ in range(12)]

    await warm_pool(resources.db, 12)
    async with slow_inserts(db), asyncio.timeout(60):
        results = await asyncio.gather(*(ingest(resources, order) for order in orders))

    assert all(r.rejected == [] for r in results)
    assert sum(r.accepted for r in results) == 150
    assert all(r.accepted + r.duplicates == 150 for r in results)
    assert await stored(db) == (150, 150, 150)
    # Rows are written in one global order, so no batch ever needed its retry.
    assert [r.message for r in caplog.records if "retrying" in r.message] == []


async def test_overlapping_row_writes_take_their_locks_in_one_order_and_never_deadlock(
    resources: Resources, db: Database, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    if db.dialect != "postgresql":
        pytest.skip("row-lock order matters where writers run concurrently (PostgreSQL)")
    caplog.set_level(logging.INFO, logger="insitechart.ingest")
    async with db.sessionmaker() as session:
        stock_ids = list((await session.execute(select(Stock.id))).scalars())
    now = utcnow()
    rows = [
        row(f"w{i:03d}", stock_ids[i % 3], now - timedelta(hours=i % 5, minutes=1))
        for i in range(200)
    ]
    rng = random.Random(1616)
    await warm_pool(resources.db, 12)  # all writers start together, none waits for a connection
    async with slow_inserts(db):
        async with asyncio.timeout(60):
            results = await asyncio.gather(
                *(
                    write_rows(resources.db, rng.sample(rows, len(rows)), attempts=1)
                    for _ in range(12)
                )
            )
    assert sum(len(w.stored) for w in results) == 200
    assert await stored(db) == (200, 200, 200)
    assert [r.message for r in caplog.records if "retrying" in r.message] == []


async def test_a_nul_or_an_unstorable_timestamp_rejects_only_that_mention(
    resources: Resources, db: Database
) -> None:
    batch = [
        mention("ok1"),
        mention("nul-text", text="$AAPL \x00 zero"),
        mention("nul\x00id"),
        mention("nul-author", author="a\x00b"),
        mention("early", published_at=datetime.fromisoformat("0001-01-01T00:00:00+14:00")),
        mention("surrogate", text="$AAPL \ud800"),
        mention("ok2"),
    ]
    result = await ingest(resources, batch)
    assert [(r.index, r.code) for r in result.rejected] == [
        (1, "BAD_CHARACTER"),
        (2, "BAD_CHARACTER"),
        (3, "BAD_CHARACTER"),
        (4, "BAD_TIMESTAMP"),
        (5, "BAD_CHARACTER"),
    ]
    assert "text" in result.rejected[0].message and "author" in result.rejected[2].message
    assert result.accepted == 2
    assert await stored(db) == (2, 2, 2)


async def test_a_batch_the_database_refuses_is_split_until_only_the_refused_rows_are_left(
    resources: Resources, db: Database
) -> None:
    async with db.sessionmaker() as session:
        stock_id = (await session.execute(select(func.min(Stock.id)))).scalar_one()
    rows = [row(f"r{i}", stock_id, utcnow() - timedelta(minutes=1)) for i in range(10)]
    rows[3]["stock_id"] = 999_999  # no such stock: the foreign key refuses the row
    rows[7]["stock_id"] = 999_998

    written = await write_rows(db, rows)

    assert [position for position, _ in written.refused] == [3, 7]
    assert len(written.stored) == 8
    assert await stored(db) == (8, 8, 8)


async def test_a_locked_table_times_out_as_a_timeout_fault_and_stores_nothing(
    resources: Resources, db: Database, settings: Settings
) -> None:
    if db.dialect != "postgresql":
        pytest.skip("LOCK TABLE is PostgreSQL's")
    quick = create_database(settings.model_copy(update={"statement_timeout_ms": 300}))
    try:
        async with db.engine.connect() as locker:
            await locker.execute(text("LOCK TABLE mentions IN ACCESS EXCLUSIVE MODE"))
            quick_resources = Resources(settings=settings, db=quick)
            with pytest.raises(DatabaseFault) as caught:
                async with asyncio.timeout(20):
                    await ingest(quick_resources, [mention("locked")])
            await locker.rollback()
    finally:
        await quick.dispose()
    assert caught.value.code == TIMEOUT
    assert await stored(db) == (0, 0, 0)
    assert (await ingest(resources, [mention("locked")])).accepted == 1
