"""Idempotent storage of scored mentions and their hourly roll-up; shared by seed and ingest."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.mention_keys import insert_keyed, uses_key_table
from app.models import Mention, SentimentBucket
from app.sentiment import label_for
from app.timeutil import floor_hour, utcnow

MENTION_COLUMNS = (
    "stock_id",
    "source",
    "external_id",
    "author",
    "text",
    "url",
    "published_at",
    "compound",
    "positive",
    "neutral",
    "negative",
)


@dataclass(frozen=True, slots=True)
class StoredMention:
    id: int
    stock_id: int
    source: str
    external_id: str
    published_at: datetime
    compound: float


def _insert(session: AsyncSession, table: Any) -> postgresql.Insert | sqlite.Insert:
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


async def store_mentions(
    session: AsyncSession, rows: Sequence[dict[str, Any]]
) -> list[StoredMention]:
    """Insert scored mentions, skipping any already stored, and roll the new ones into buckets.

    Runs inside the caller's transaction, so rows and buckets change together or not at all.
    Returns only the mentions that were new. Rows are inserted in the order given (concurrent
    writers give them in one global order: app/writes.py), buckets in (stock, bucket) order.
    """
    if not rows:
        return []
    # --- partitioned mentions (issue 20): idempotency kept by the mention_keys table ---
    if await uses_key_table(session):
        inserted = await insert_keyed(session, rows, MENTION_COLUMNS)
        keyed = [StoredMention(*r) for r in inserted]
        await roll_up(session, keyed)
        return keyed
    # --- end partitioned mentions ---
    table = Mention.__table__
    stmt = (
        _insert(session, table)
        .on_conflict_do_nothing(index_elements=["source", "external_id"])
        .returning(
            table.c.id,
            table.c.stock_id,
            table.c.source,
            table.c.external_id,
            table.c.published_at,
            table.c.compound,
        )
    )
    result = await session.execute(stmt, [{k: row[k] for k in MENTION_COLUMNS} for row in rows])
    stored = [StoredMention(*r) for r in result.all()]
    await roll_up(session, stored)
    return stored


async def roll_up(session: AsyncSession, mentions: Sequence[StoredMention]) -> None:
    """Add `mentions` to their stocks' hourly sentiment buckets (an upsert per bucket)."""
    if not mentions:
        return
    totals: dict[tuple[int, datetime], list[float]] = defaultdict(lambda: [0, 0, 0, 0, 0.0])
    for m in mentions:
        acc = totals[(m.stock_id, floor_hour(m.published_at))]
        acc[0] += 1
        label = label_for(m.compound)
        acc[1 if label == "POSITIVE" else 2 if label == "NEGATIVE" else 3] += 1
        acc[4] += m.compound
    now = utcnow()
    values = [
        {
            "stock_id": stock_id,
            "bucket_start": bucket_start,
            "mention_count": int(acc[0]),
            "positive_count": int(acc[1]),
            "negative_count": int(acc[2]),
            "neutral_count": int(acc[3]),
            "compound_sum": acc[4],
            "compound_mean": acc[4] / acc[0],
            "updated_at": now,
        }
        for (stock_id, bucket_start), acc in sorted(totals.items())
    ]
    table = SentimentBucket.__table__
    stmt = _insert(session, table)
    excluded = stmt.excluded
    c = table.c
    stmt = stmt.on_conflict_do_update(
        index_elements=["stock_id", "bucket_start"],
        set_={
            "mention_count": c.mention_count + excluded.mention_count,
            "positive_count": c.positive_count + excluded.positive_count,
            "negative_count": c.negative_count + excluded.negative_count,
            "neutral_count": c.neutral_count + excluded.neutral_count,
            "compound_sum": c.compound_sum + excluded.compound_sum,
            "compound_mean": (c.compound_sum + excluded.compound_sum)
            / (c.mention_count + excluded.mention_count),
            "updated_at": excluded.updated_at,
        },
    )
    await session.execute(stmt, values)
