"""Mentions by id, and newest-first pages of a stock's mentions (top N per stock in one query)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any, ClassVar

import orjson
from sqlalchemy import BigInteger, Executable, Float, Integer, String, TextualSelect, select, text
from sqlalchemy.types import TypeEngine

from app.cache import Codec, stock_tag
from app.models import MENTION_READ_COLUMNS, Mention, UTCDateTime
from loaders.base import KEYS, Loader, LoaderEnv, digest, in_keys
from loaders.codec import OptionalCodec, PageCodec, RowCodec
from loaders.rows import MentionPage, MentionRow

RESULT_TYPES: dict[str, TypeEngine[Any]] = {
    "ord": Integer(),
    "id": BigInteger(),
    "stock_id": Integer(),
    "source": String(),
    "external_id": String(),
    "author": String(),
    "text": String(),
    "url": String(),
    "published_at": UTCDateTime(),
    "compound": Float(),
}


def mention_row(r: Any) -> MentionRow:
    return MentionRow(
        r.id,
        r.stock_id,
        r.source,
        r.external_id,
        r.author,
        r.text,
        r.url,
        r.published_at,
        r.compound,
    )


@cache
def _by_id(dialect: str) -> Executable:
    return select(*MENTION_READ_COLUMNS).where(in_keys(Mention.id, BigInteger(), dialect))


class MentionByIdLoader(Loader[int, MentionRow | None]):
    """Mentions are never edited once stored: cached by TTL, with no generation tag."""

    cache_type = "Mention"
    cache_ttl_s = MentionRow.cache_ttl_s
    cache_codec: ClassVar[Codec[Any]] = OptionalCodec(RowCodec(MentionRow))

    def cache_part(self, key: int) -> str:
        return f"id:{key}"

    async def load_batch(self, keys: Sequence[int]) -> list[MentionRow | None]:
        db = self.env.db
        rows = await db.fetch(_by_id(db.dialect), {KEYS: list(keys)})
        found = {r.id: mention_row(r) for r in rows}
        return [found.get(k) for k in keys]


@dataclass(frozen=True, slots=True)
class MentionPageKey:
    stock_id: int
    first: int
    after: tuple[datetime, int] | None = None
    source: str | None = None


# PostgreSQL: the keys arrive as arrays (one statement text for any batch size), and a LATERAL
# index scan per stock reads at most first + 1 rows from ix_mentions_stock_published.
# Each array is read through a scalar subquery so that no plan knows its length: a custom plan
# (made per execution, with the arrays' values) then costs what the generic one does, and
# PostgreSQL keeps the generic plan after its fifth execution. Otherwise it planned the LATERAL
# over every partition of mentions on each execution, ~0.6 ms of the server's CPU (1.0 against
# 0.44 ms a one-stock page; the same rows, the same plan).
_PG_PAGES = text(
    """
    SELECT k.ord, m.id, m.stock_id, m.source, m.external_id, m.author, m.text, m.url,
           m.published_at, m.compound
    FROM unnest((SELECT CAST(:stock_ids AS integer[])), (SELECT CAST(:limits AS integer[])),
                (SELECT CAST(:after_ts AS timestamptz[])), (SELECT CAST(:after_ids AS bigint[])),
                (SELECT CAST(:sources AS text[])))
         WITH ORDINALITY AS k(stock_id, lim, after_ts, after_id, source, ord)
    CROSS JOIN LATERAL (
        SELECT * FROM mentions mm
        WHERE mm.stock_id = k.stock_id
          AND (k.source IS NULL OR mm.source = k.source)
          AND (mm.published_at, mm.id) < (COALESCE(k.after_ts, 'infinity'::timestamptz),
                                          COALESCE(k.after_id, 9223372036854775807))
          -- Implied by the row comparison, but only a plain bound on the partition key lets a
          -- partitioned mentions skip the partitions newer than the cursor (docs/SCALING.md).
          AND mm.published_at <= COALESCE(k.after_ts, 'infinity'::timestamptz)
        ORDER BY mm.published_at DESC, mm.id DESC
        LIMIT k.lim
    ) m
    ORDER BY k.ord, m.published_at DESC, m.id DESC
    """
).columns(**RESULT_TYPES)

# SQLite: no LATERAL, so a window function numbers each stock's mentions newest first.
_SQLITE_PAGES = text(
    """
    WITH k AS (
        SELECT CAST(key AS INTEGER) + 1 AS ord,
               json_extract(value, '$[0]') AS stock_id,
               json_extract(value, '$[1]') AS lim,
               json_extract(value, '$[2]') AS after_ts,
               json_extract(value, '$[3]') AS after_id,
               json_extract(value, '$[4]') AS source
        FROM json_each(:keys)
    )
    SELECT ord, id, stock_id, source, external_id, author, text, url, published_at, compound
    FROM (
        SELECT k.ord, k.lim, m.id, m.stock_id, m.source, m.external_id, m.author, m.text, m.url,
               m.published_at, m.compound,
               ROW_NUMBER() OVER (PARTITION BY k.ord
                                  ORDER BY m.published_at DESC, m.id DESC) AS rn
        FROM k JOIN mentions m ON m.stock_id = k.stock_id
        WHERE (k.source IS NULL OR m.source = k.source)
          AND (k.after_ts IS NULL OR m.published_at < k.after_ts
               OR (m.published_at = k.after_ts AND m.id < k.after_id))
    )
    WHERE rn <= lim
    ORDER BY ord, rn
    """
).columns(**RESULT_TYPES)

_SQLITE_TS = "%Y-%m-%d %H:%M:%S.%f"  # how SQLAlchemy stores DateTime in SQLite


def _statement(
    keys: Sequence[MentionPageKey], dialect: str
) -> tuple[TextualSelect, dict[str, Any]]:
    if dialect == "postgresql":
        return _PG_PAGES, {
            "stock_ids": [k.stock_id for k in keys],
            "limits": [k.first + 1 for k in keys],
            "after_ts": [k.after[0] if k.after else None for k in keys],
            "after_ids": [k.after[1] if k.after else None for k in keys],
            "sources": [k.source for k in keys],
        }
    encoded = [
        [
            k.stock_id,
            k.first + 1,
            k.after[0].strftime(_SQLITE_TS) if k.after else None,
            k.after[1] if k.after else None,
            k.source,
        ]
        for k in keys
    ]
    return _SQLITE_PAGES, {KEYS: orjson.dumps(encoded).decode()}


class MentionPageLoader(Loader[MentionPageKey, MentionPage]):
    """Newest-first pages, keyset on (published_at, id); primes the mention-by-id loader."""

    cache_type = "Mention"
    cache_ttl_s = MentionRow.cache_ttl_s
    cache_codec: ClassVar[Codec[Any]] = PageCodec(MentionPage, RowCodec(MentionRow))

    def __init__(self, env: LoaderEnv, by_id: MentionByIdLoader) -> None:
        super().__init__(env)
        self.by_id = by_id

    def cache_part(self, key: MentionPageKey) -> str:
        after = key.after[0].isoformat() + f"/{key.after[1]}" if key.after else None
        return f"page:{key.stock_id}:{key.first}:" + digest(after, key.source)

    def cache_tag(self, key: MentionPageKey) -> str:
        return stock_tag(key.stock_id)

    def on_cached(self, key: MentionPageKey, value: MentionPage) -> None:
        for row in value.rows:
            self.by_id.prime(row.id, row)

    async def load_batch(self, keys: Sequence[MentionPageKey]) -> list[MentionPage]:
        stmt, params = _statement(keys, self.env.db.dialect)
        grouped: list[list[MentionRow]] = [[] for _ in keys]
        for r in await self.env.db.fetch(stmt, params):
            grouped[r.ord - 1].append(mention_row(r))
        pages = []
        for key, rows in zip(keys, grouped, strict=True):
            page = rows[: key.first]
            for row in page:
                self.by_id.prime(row.id, row)
            pages.append(MentionPage(tuple(page), len(rows) > key.first))
        return pages
