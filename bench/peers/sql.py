"""What the peer needs in the bench database: the product's derived fields as computed columns.

PostGraphile exposes a function `stocks_<name>(s stocks)` as a field `<name>` of `Stock`
(computed column). These give it what InsiteChart derives in its loaders, with the same
arithmetic: the rolling 24 h sentiment over the last 24 hourly buckets (`Stock.sentiment`),
the last N hourly buckets with empty ones as zero points (`Stock.sentimentHistory`), and the
VADER label of a mention (`Mention.label`). They are created for a run and dropped after it.
Mentions are read through a view (`peer_mentions`), as PostGraphile 4 skips partitioned tables.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

# The current UTC hour, whatever the server's time zone (the product's window ends with it).
_HOUR = "(date_trunc('hour', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')"

_LABEL = """CASE WHEN {x} >= 0.05 THEN 'POSITIVE' WHEN {x} <= -0.05 THEN 'NEGATIVE'
                 ELSE 'NEUTRAL' END"""

CREATE: tuple[str, ...] = (
    """CREATE TYPE peer_sentiment AS (
         compound_score float8, label text, mention_count24h int, positive_mentions int,
         negative_mentions int, neutral_mentions int, updated_at timestamptz)""",
    """CREATE TYPE peer_sentiment_point AS (
         bucket_start timestamptz, compound_score float8, mention_count int,
         positive_mentions int, negative_mentions int, neutral_mentions int)""",
    f"""CREATE FUNCTION stocks_sentiment(s stocks) RETURNS peer_sentiment
        LANGUAGE sql STABLE AS $$
        SELECT round((t.total / t.n)::numeric, 4)::float8,
               {_LABEL.format(x="round((t.total / t.n)::numeric, 4)")},
               t.n::int, t.pos::int, t.neg::int, t.neu::int, t.updated_at
        FROM (SELECT sum(b.mention_count) AS n, sum(b.positive_count) AS pos,
                     sum(b.negative_count) AS neg, sum(b.neutral_count) AS neu,
                     sum(b.compound_sum) AS total, max(b.updated_at) AS updated_at
              FROM sentiment_buckets b
              WHERE b.stock_id = s.id AND b.bucket_start >= {_HOUR} - interval '23 hours') t
        WHERE t.n > 0
        $$""",
    f"""CREATE FUNCTION stocks_sentiment_history(s stocks, last int DEFAULT 24)
        RETURNS SETOF peer_sentiment_point LANGUAGE sql STABLE AS $$
        SELECT h.start,
               CASE WHEN coalesce(b.mention_count, 0) > 0
                    THEN round((b.compound_sum / b.mention_count)::numeric, 4)::float8
                    ELSE 0.0 END,
               coalesce(b.mention_count, 0), coalesce(b.positive_count, 0),
               coalesce(b.negative_count, 0), coalesce(b.neutral_count, 0)
        FROM generate_series({_HOUR} - (last - 1) * interval '1 hour', {_HOUR},
                             interval '1 hour') AS h(start)
        LEFT JOIN sentiment_buckets b ON b.stock_id = s.id AND b.bucket_start = h.start
        ORDER BY h.start
        $$""",
    "COMMENT ON FUNCTION stocks_sentiment_history(stocks, int) IS E'@simpleCollections only'",
    # PostGraphile 4 does not introspect a partitioned table (only its partitions), so the peer
    # reads mentions through a view of them that smart comments make the `Mention` type, with
    # `Stock.mentions` and `Mention.stock` as the foreign key would have given them.
    "CREATE VIEW peer_mentions AS SELECT * FROM mentions",
    """COMMENT ON VIEW peer_mentions IS E'@name mentions\\n@primaryKey id\\n"""
    """@foreignKey (stock_id) references stocks (id)|@fieldName stock"""
    """|@foreignFieldName mentions'""",
    f"""CREATE FUNCTION peer_mentions_label(m peer_mentions) RETURNS text LANGUAGE sql STABLE AS $$
        SELECT {_LABEL.format(x="m.compound")}
        $$""",
)

DROP: tuple[str, ...] = (
    "DROP FUNCTION IF EXISTS peer_mentions_label(peer_mentions)",
    "DROP VIEW IF EXISTS peer_mentions",
    "DROP FUNCTION IF EXISTS mentions_label(mentions)",  # what runs before the view left
    "DROP FUNCTION IF EXISTS stocks_sentiment_history(stocks, int)",
    "DROP FUNCTION IF EXISTS stocks_sentiment(stocks)",
    "DROP TYPE IF EXISTS peer_sentiment_point",
    "DROP TYPE IF EXISTS peer_sentiment",
)


async def drop_computed_columns(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        for statement in DROP:
            await conn.execute(text(statement))


async def create_computed_columns(engine: AsyncEngine) -> None:
    """Create the peer's functions (replacing a leftover of an interrupted run)."""
    await drop_computed_columns(engine)
    async with engine.begin() as conn:
        for statement in CREATE:
            await conn.execute(text(statement))


@asynccontextmanager
async def computed_columns(engine: AsyncEngine) -> AsyncIterator[None]:
    """The peer's functions in the database of `engine` while the block runs."""
    await create_computed_columns(engine)
    try:
        yield
    finally:
        await drop_computed_columns(engine)
