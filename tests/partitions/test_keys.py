"""Idempotency survives partitioning: a re-sent mention is stored once, whatever its publishedAt."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text

from app.db import Database
from app.partitions import period
from app.store import store_mentions
from app.timeutil import utcnow
from tests.factories.stocks import make_stock


def row(stock_id: int, external_id: str, at: datetime) -> dict[str, Any]:
    return {
        "stock_id": stock_id,
        "source": "TWITTER",
        "external_id": external_id,
        "author": "a",
        "text": f"sent at {at.isoformat()}",
        "url": None,
        "published_at": at,
        "compound": 0.5,
        "positive": 0.5,
        "neutral": 0.5,
        "negative": 0.0,
    }


async def test_concurrent_resends_across_a_partition_boundary_store_once(pdb: Database) -> None:
    async with pdb.sessionmaker.begin() as session:
        stock_id = (await make_stock(session, "KEYS")).id
    boundary = period(utcnow(), "week").start
    # Each client sends the same 20 keys, alternately just before and just after the boundary
    # (two partitions), in its own order, all at once.
    keys = [f"k{i}" for i in range(20)]

    async def client(n: int) -> int:
        at = boundary + timedelta(seconds=1 if n % 2 else -1, milliseconds=n)
        order = keys if n % 2 else list(reversed(keys))
        async with pdb.sessionmaker.begin() as session:
            stored = await store_mentions(session, [row(stock_id, k, at) for k in order])
        return len(stored)

    stored = await asyncio.wait_for(asyncio.gather(*(client(n) for n in range(8))), 30)

    assert sum(stored) == 20
    async with pdb.engine.connect() as conn:
        counts = (
            await conn.execute(
                text(
                    "SELECT count(*), count(DISTINCT external_id), "
                    "count(DISTINCT tableoid) FROM mentions"
                )
            )
        ).one()
        buckets = await conn.scalar(text("SELECT sum(mention_count) FROM sentiment_buckets"))
        keyed = await conn.scalar(
            text("SELECT count(*) FROM mention_keys k JOIN mentions m USING (id, published_at)")
        )
    assert counts[0] == 20 and counts[1] == 20
    assert counts[2] in (1, 2)  # whichever client won each key decided its partition
    assert buckets == 20  # the hourly roll-up counted each mention once
    assert keyed == 20


async def test_a_resend_in_one_batch_and_later_is_skipped(pdb: Database) -> None:
    async with pdb.sessionmaker.begin() as session:
        stock_id = (await make_stock(session, "ONCE")).id
        now = utcnow()
        first = await store_mentions(
            session, [row(stock_id, "x", now), row(stock_id, "x", now - timedelta(days=9))]
        )
    async with pdb.sessionmaker.begin() as session:
        again = await store_mentions(session, [row(stock_id, "x", now - timedelta(days=40))])
    assert [m.external_id for m in first] == ["x"] and first[0].published_at == now
    assert again == []
