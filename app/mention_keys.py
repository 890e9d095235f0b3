"""Idempotent mention writes on the partitioned schema, through the mention_keys table.

On a table partitioned by published_at, a unique (source, external_id) cannot be enforced (a
unique constraint must include the partition key), so a re-sent mention with another publishedAt
would land in another partition. mention_keys (unpartitioned, primary key (source, external_id))
claims each key first, in the caller's transaction: a concurrent writer of the same key waits on
that index entry and then skips it, so a mention is stored once whatever its publishedAt.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast
from weakref import WeakKeyDictionary

from sqlalchemy import Table, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Mention
from app.timeutil import as_utc

# Whether an engine's database has mention_keys (PostgreSQL after migration 0003): asked once.
_KEYED: WeakKeyDictionary[Engine, bool] = WeakKeyDictionary()

# Ids are drawn in the batch's order (as a plain insert would: OFFSET 0 keeps that subquery
# apart), then the keys are claimed in (source, external_id) order, so two batches sharing keys
# cannot deadlock.
_CLAIM = text(
    """
    INSERT INTO mention_keys (source, external_id, id, published_at)
    SELECT n.source, n.external_id, n.id, n.published_at
    FROM (SELECT u.source, u.external_id, u.published_at, nextval('mentions_id_seq') AS id
          FROM unnest(CAST(:sources AS text[]), CAST(:external_ids AS text[]),
                      CAST(:published AS timestamptz[]))
               WITH ORDINALITY AS u(source, external_id, published_at, ord)
          ORDER BY u.ord OFFSET 0) AS n
    ORDER BY n.source, n.external_id
    ON CONFLICT DO NOTHING
    RETURNING source, external_id, id
    """
)


async def uses_key_table(session: AsyncSession) -> bool:
    bind = session.get_bind()
    if bind.dialect.name != "postgresql":
        return False
    engine = bind.engine
    known = _KEYED.get(engine)
    if known is None:
        found = await session.scalar(text("SELECT to_regclass('mention_keys') IS NOT NULL"))
        known = _KEYED[engine] = bool(found)
    return known


async def insert_keyed(
    session: AsyncSession, rows: Sequence[dict[str, Any]], columns: Sequence[str]
) -> list[tuple[Any, ...]]:
    """Insert the rows whose key is new; return (id, stock_id, source, external_id,
    published_at, compound) of each stored one."""
    first: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        first.setdefault((row["source"], row["external_id"]), row)
    claimed = await session.execute(
        _CLAIM,
        {
            "sources": [k[0] for k in first],
            "external_ids": [k[1] for k in first],
            "published": [as_utc(r["published_at"]) for r in first.values()],
        },
    )
    values = [
        {"id": ident, **{c: first[(source, ext)][c] for c in columns}}
        for source, ext, ident in sorted(claimed, key=lambda r: int(r[2]))
    ]
    if not values:
        return []
    table = cast(Table, Mention.__table__)
    c = table.c
    stmt = postgresql.insert(table).returning(
        c.id, c.stock_id, c.source, c.external_id, c.published_at, c.compound
    )
    result = await session.execute(stmt, values)
    return [tuple(r) for r in result.all()]
