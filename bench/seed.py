"""Seed the benchmark database in SQL: stocks, mentions with skewed popularity, hourly buckets."""

from __future__ import annotations

import time
from dataclasses import dataclass

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import make_url

from app import migrate
from app.config import Settings
from app.db import Database, create_database
from app.partitions import is_partitioned, maintain
from app.sentiment import score_text
from app.timeutil import utcnow
from bench.config import BenchConfig

SECTORS = (
    "Information Technology",
    "Health Care",
    "Financials",
    "Consumer Discretionary",
    "Communication Services",
    "Industrials",
    "Consumer Staples",
    "Energy",
    "Utilities",
    "Real Estate",
    "Materials",
)
# Mention texts; each is scored with VADER once at seed time, as ingestion would score it.
TEXTS = (
    "$SYM to the moon, great earnings and strong guidance!",
    "$SYM is a terrible disaster, selling everything",
    "$SYM trading sideways today",
    "Bought more $SYM, love this company",
    "$SYM missed estimates, ugly quarter",
)
SOURCES = ("REDDIT", "TWITTER", "STOCKTWITS", "NEWS")


@dataclass(frozen=True, slots=True)
class SeedSize:
    stocks: int = 500
    mentions: int = 2_000_000
    days: int = 30


def symbol_of(index: int) -> str:
    """The symbol of the stock at `index` (0-based): S000, S001, ..."""
    return f"S{index:03d}"


def _array(values: tuple[str, ...]) -> str:
    return "ARRAY[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


def _statements(size: SeedSize) -> list[str]:
    texts = _array(TEXTS)
    scored = [score_text(t) for t in TEXTS]
    scores = [
        f"ARRAY[{', '.join(str(getattr(s, part)) for s in scored)}]::float8[]"
        for part in ("compound", "positive", "neutral", "negative")
    ]
    # popularity ~ u^3 over the stocks (the hottest stock gets ~12% of the mentions, the
    # coldest ~0.07%), scattered over symbols by a multiplicative permutation.
    n = size.stocks
    return [
        f"""
        INSERT INTO stocks (id, symbol, name, exchange, sector, industry)
        SELECT i, 'S' || to_char(i - 1, 'FM000'), 'Company ' || (i - 1) || ' Inc.',
               (ARRAY['NYSE', 'NASDAQ'])[1 + i % 2], ({_array(SECTORS)})[1 + i % {len(SECTORS)}],
               'Industry ' || (i % 37)
        FROM generate_series(1, {n}) AS i
        """,
        f"SELECT setval(pg_get_serial_sequence('stocks', 'id'), {n})",
        f"""
        INSERT INTO mentions (stock_id, source, external_id, author, text, url, published_at,
                              compound, positive, neutral, negative)
        SELECT s.stock_id, (ARRAY{list(SOURCES)})[1 + g % 4], 'bench-' || g, 'user' || (g % 5000),
               replace(({texts})[1 + t.k], 'SYM', 'S' || to_char(s.stock_id - 1, 'FM000')),
               CASE WHEN g % 3 = 0 THEN 'https://example.com/m/' || g END,
               now() - random() * interval '{size.days} days',
               ({scores[0]})[1 + t.k], ({scores[1]})[1 + t.k],
               ({scores[2]})[1 + t.k], ({scores[3]})[1 + t.k]
        FROM generate_series(1, {size.mentions}) AS g
        CROSS JOIN LATERAL (SELECT 1 + (floor({n} * random() ^ 3)::int * 7919) % {n}
                            + 0 * g AS stock_id) AS s
        CROSS JOIN LATERAL (SELECT (floor(random() * {len(TEXTS)}) + 0 * g)::int AS k) AS t
        """,
        """
        INSERT INTO sentiment_buckets (stock_id, bucket_start, mention_count, positive_count,
                                       negative_count, neutral_count, compound_sum,
                                       compound_mean, updated_at)
        SELECT stock_id, date_trunc('hour', published_at), count(*),
               count(*) FILTER (WHERE compound >= 0.05), count(*) FILTER (WHERE compound <= -0.05),
               count(*) FILTER (WHERE compound > -0.05 AND compound < 0.05),
               sum(compound), avg(compound), max(published_at)
        FROM mentions GROUP BY 1, 2
        """,
        "CREATE TABLE bench_seed (stocks int, mentions int, days int, seeded_at timestamptz)",
        f"INSERT INTO bench_seed VALUES ({n}, {size.mentions}, {size.days}, now())",
        "ANALYZE",
    ]


async def _create_database(config: BenchConfig) -> bool:
    """Create the bench database if missing; True when it was created."""
    url = make_url(config.server_url)
    conn = await asyncpg.connect(
        host=url.host,
        port=url.port or 5432,
        user=url.username,
        password=url.password,
        database=url.database,
    )
    try:
        exists = await conn.fetchval(
            "SELECT 1 FROM pg_database WHERE datname = $1", config.database_name
        )
        if not exists:
            await conn.execute(f'CREATE DATABASE "{config.database_name}"')
        return not exists
    finally:
        await conn.close()


async def seeded_size(config: BenchConfig) -> SeedSize | None:
    db = create_database(
        Settings(
            database_url=config.database_url, statement_timeout_ms=0, limits_execution_timeout_s=600
        )
    )
    try:
        async with db.engine.connect() as conn:
            has_marker = await conn.scalar(text("SELECT to_regclass('bench_seed') IS NOT NULL"))
            if not has_marker:
                return None
            row = (await conn.execute(text("SELECT stocks, mentions, days FROM bench_seed"))).one()
            return SeedSize(row.stocks, row.mentions, row.days)
    finally:
        await db.dispose()


async def refresh(config: BenchConfig) -> int:
    """Move every timestamp forward by the whole hours since seeding; return the hours moved.

    Sentiment, history and trending read windows that end now, so a database seeded yesterday
    would answer with empty windows; shifting keeps it at the same shape without re-seeding.
    """
    db = create_database(
        Settings(
            database_url=config.database_url, statement_timeout_ms=0, limits_execution_timeout_s=600
        )
    )
    try:
        async with db.engine.begin() as conn:
            hours = await conn.scalar(
                text("SELECT floor(extract(epoch FROM now() - seeded_at) / 3600) FROM bench_seed")
            )
            if not hours:
                return 0
            shift = f"interval '{int(hours)} hours'"
            await conn.execute(text(f"UPDATE mentions SET published_at = published_at + {shift}"))
            # The primary key (stock_id, bucket_start) is checked row by row: shifted in place, a
            # bucket would collide with the next hour's before that one moves. Out of the way
            # first (a thousand years on, in UTC so no daylight-saving hour moves), then back.
            await conn.execute(text("SET LOCAL timezone = 'UTC'"))
            await conn.execute(
                text(
                    "UPDATE sentiment_buckets SET "
                    f"bucket_start = bucket_start + {shift} + interval '1000 years', "
                    f"updated_at = updated_at + {shift}"
                )
            )
            await conn.execute(
                text(
                    "UPDATE sentiment_buckets "
                    "SET bucket_start = bucket_start - interval '1000 years'"
                )
            )
            await conn.execute(text(f"UPDATE bench_seed SET seeded_at = seeded_at + {shift}"))
        # The shift rewrote every row (2,000,000 dead mentions, moved across partitions).
        await vacuum(db)
        return int(hours)
    finally:
        await db.dispose()


async def vacuum(db: Database) -> None:
    """VACUUM (ANALYZE) the tables a seed or a shift rewrote.

    Until autovacuum gets to dead rows, every scan reads them too (an index scan of the DEFAULT
    partition the seeded mentions were moved out of read ~3,000 pages per stock for no row), and
    PostgreSQL's plans go by stale statistics. Vacuumed now, the next run measures the same
    database.
    """
    async with db.engine.connect() as conn:
        autocommit = await conn.execution_options(isolation_level="AUTOCOMMIT")
        for table in ("mentions", "sentiment_buckets"):
            await autocommit.execute(text(f"VACUUM (ANALYZE) {table}"))


async def seed(config: BenchConfig, size: SeedSize, log: bool = True) -> SeedSize:
    """Create, migrate and fill the bench database once; reuse it when already at `size`."""
    await _create_database(config)
    db = create_database(
        Settings(
            database_url=config.database_url, statement_timeout_ms=0, limits_execution_timeout_s=600
        )
    )
    try:
        # At the code's revision, reused or not: a server is not ready on an older one.
        await migrate.upgrade(db)
    except BaseException:
        await db.dispose()
        raise
    current = await seeded_size(config)
    if current == size:
        await db.dispose()
        moved = await refresh(config)
        if log:
            print(f"bench: {config.database_name} already seeded at {size}; shifted {moved} h")
        return size
    started = time.perf_counter()
    try:
        async with db.engine.begin() as conn:
            await conn.execute(text("DROP TABLE IF EXISTS bench_seed"))
            await conn.execute(
                text("TRUNCATE sentiment_buckets, mentions, stocks RESTART IDENTITY CASCADE")
            )
            if await is_partitioned(conn):
                await conn.execute(text("TRUNCATE mention_keys"))
            for statement in _statements(size):
                await conn.execute(text(statement))
            # On the partitioned schema (0003) the mentions' trigger filled mention_keys.
            partitioned = await is_partitioned(conn)
        if partitioned:
            # The past weeks' mentions landed in the DEFAULT partition: give them partitions.
            defaults = Settings(database_url=config.database_url)
            await maintain(
                db, utcnow(), defaults.mentions_partition_interval,
                defaults.mentions_partitions_ahead, 0,
            )  # fmt: skip
        await vacuum(db)
    finally:
        await db.dispose()
    if log:
        print(
            f"bench: seeded {config.database_name} {size} in {time.perf_counter() - started:.0f}s"
        )
    return size
