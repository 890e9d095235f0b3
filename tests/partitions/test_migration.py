"""Migration 0003: the partitioned table holds every mention of the single one, and back."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import text

from app import migrate
from app.config import Settings
from app.db import Database, create_database
from app.timeutil import utcnow
from tests.factories.mentions import make_mentions
from tests.factories.stocks import make_stock


async def snapshot(db: Database) -> dict[str, Any]:
    async with db.engine.connect() as conn:
        rows = (
            await conn.execute(
                text("SELECT id, source, external_id, published_at, text FROM mentions ORDER BY id")
            )
        ).all()
        buckets = await conn.scalar(text("SELECT sum(mention_count) FROM sentiment_buckets"))
        kind = await conn.scalar(
            text("SELECT relkind::text FROM pg_class WHERE relname = 'mentions'")
        )
    return {"rows": [tuple(r) for r in rows], "buckets": buckets, "kind": kind}


async def test_upgrade_downgrade_upgrade_keeps_every_mention_and_id(pg_url: str) -> None:
    settings = Settings(database_url=pg_url)
    db = create_database(settings)
    try:
        await migrate.upgrade(db, "0002")
        now = utcnow()
        # Ninety days back to three days ahead: several weekly partitions and an early mention.
        times = [now - timedelta(hours=7 * i) for i in range(300)] + [now + timedelta(days=3)]
        async with db.sessionmaker.begin() as session:
            stock = await make_stock(session, "PART")
            await make_mentions(session, stock.id, times)
        before = await snapshot(db)
        assert before["kind"] == "r" and len(before["rows"]) == 301

        await migrate.upgrade(db)
        after = await snapshot(db)
        assert after["kind"] == "p"
        assert after["rows"] == before["rows"] and after["buckets"] == before["buckets"]
        async with db.engine.connect() as conn:
            keys = await conn.scalar(text("SELECT count(*) FROM mention_keys"))
            parts = await conn.scalar(
                text("SELECT count(*) FROM pg_inherits WHERE inhparent = 'mentions'::regclass")
            )
            in_default = await conn.scalar(text("SELECT count(*) FROM mentions_default"))
        assert keys == 301
        assert parts >= 14  # thirteen weeks of history, the weeks ahead, and the default
        assert in_default == 0

        await migrate.downgrade(db, "0002")
        flat = await snapshot(db)
        assert flat == before
        async with db.engine.connect() as conn:
            assert await conn.scalar(text("SELECT to_regclass('mention_keys')")) is None

        await migrate.upgrade(db)
        assert await snapshot(db) == after
    finally:
        await db.dispose()

    # A fresh engine sees the keyed schema: re-sending a stored mention stores nothing, and the
    # sequence goes on after the copied ids.
    fresh = create_database(settings)
    try:
        async with fresh.sessionmaker.begin() as session:
            resent = await session.execute(text("SELECT max(id) FROM mentions"))
            top = resent.scalar_one()
            stored = await make_mentions(session, 1, [now])
        assert stored[0].id > top
    finally:
        await fresh.dispose()
