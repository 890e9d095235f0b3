"""The maintenance pass: partitions ahead, rows out of the default, retention, one at a time."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import text

from app.db import Database
from app.partitions import DEFAULT_PARTITION, existing, maintain, period
from app.timeutil import utcnow
from tests.factories.mentions import make_mentions
from tests.factories.stocks import make_stock


async def partitions(db: Database) -> dict[str, object]:
    async with db.engine.connect() as conn:
        return dict(await existing(conn))


async def count(db: Database, sql: str) -> int:
    async with db.engine.connect() as conn:
        return int(await conn.scalar(text(sql)) or 0)


async def test_creates_ahead_once_and_is_idempotent(pdb: Database) -> None:
    now = utcnow() + timedelta(days=60)  # two months on: the migration's weeks ahead are past
    first = await maintain(pdb, now, "week", 3, 0)
    wanted = [period(now + timedelta(weeks=i), "week").start for i in range(4)]
    assert first.created == [f"mentions_p{s:%Y%m%d}" for s in wanted]
    again = await maintain(pdb, now, "week", 3, 0)
    assert again.created == [] and again.dropped == [] and not again.locked_out
    assert set(first.created) <= set(await partitions(pdb))


async def test_rows_waiting_in_the_default_move_into_their_new_partition(pdb: Database) -> None:
    far = utcnow() + timedelta(days=120)  # beyond every partition made so far
    async with pdb.sessionmaker.begin() as session:
        stock = await make_stock(session, "LATE")
        await make_mentions(session, stock.id, [far, far + timedelta(hours=1)])
    assert await count(pdb, f"SELECT count(*) FROM {DEFAULT_PARTITION}") == 2

    report = await maintain(pdb, far, "week", 1, 0)

    assert report.moved_rows == 2
    assert await count(pdb, f"SELECT count(*) FROM {DEFAULT_PARTITION}") == 0
    name = period(far, "week").name
    assert await count(pdb, f"SELECT count(*) FROM {name}") == 2
    assert await count(pdb, "SELECT count(*) FROM mentions") == 2


async def test_retention_drops_old_partitions_and_keeps_the_buckets(pdb: Database) -> None:
    now = utcnow()
    old = now - timedelta(days=40)
    async with pdb.sessionmaker.begin() as session:
        stock = await make_stock(session, "OLD")
        await make_mentions(session, stock.id, [old, now])
    await maintain(pdb, now, "week", 1, 0)  # the old week gets its partition (moved out)
    old_name = period(old, "week").name
    assert old_name in await partitions(pdb)

    report = await maintain(pdb, now, "week", 1, 30)

    assert old_name in report.dropped
    assert old_name not in await partitions(pdb)
    assert await count(pdb, "SELECT count(*) FROM mentions") == 1
    assert await count(pdb, "SELECT sum(mention_count) FROM sentiment_buckets") == 2
    assert await count(pdb, "SELECT count(*) FROM mention_keys") == 2  # still stored once


async def test_concurrent_passes_do_the_work_once(pdb: Database) -> None:
    now = utcnow() + timedelta(days=200)
    reports = await asyncio.wait_for(
        asyncio.gather(*(maintain(pdb, now, "month", 2, 0) for _ in range(4))), 30
    )
    created = [name for r in reports for name in r.created]
    assert len(created) == len(set(created)) == 3  # this month and two ahead, made once


async def test_a_held_lock_makes_a_pass_skip(pdb: Database) -> None:
    async with pdb.engine.connect() as holder:
        await holder.execute(text("SELECT pg_advisory_lock(7259020001)"))
        report = await maintain(pdb, utcnow() + timedelta(days=300), "week", 1, 0)
        await holder.execute(text("SELECT pg_advisory_unlock(7259020001)"))
    assert report.locked_out and report.created == []
