"""The benchmark seed: the size asked, skewed popularity, buckets that add up, built once."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text

from app.config import Settings
from app.db import Database
from bench.config import BenchConfig, read_operations
from bench.seed import SeedSize, seed
from bench.sqlcount import count_per_operation
from bench.workload import MIX, Workload

SIZE = SeedSize(stocks=12, mentions=4000, days=2)


@pytest.fixture
async def seeded(db: Database, settings: Settings, backend: str) -> AsyncIterator[BenchConfig]:
    if backend != "postgres":
        pytest.skip("the benchmark database is PostgreSQL")
    config = BenchConfig(database_url=settings.database_url)
    await seed(config, SIZE, log=False)
    try:
        yield config
    finally:
        async with db.engine.begin() as conn:
            await conn.execute(text("DROP TABLE IF EXISTS bench_seed"))


async def scalar(db: Database, sql: str) -> int:
    async with db.engine.connect() as conn:
        return int(await conn.scalar(text(sql)) or 0)


async def test_seed_builds_skewed_mentions_and_buckets_that_add_up(
    db: Database, seeded: BenchConfig
) -> None:
    assert await scalar(db, "SELECT count(*) FROM stocks") == SIZE.stocks
    assert await scalar(db, "SELECT count(*) FROM mentions") == SIZE.mentions
    assert await scalar(db, "SELECT sum(mention_count) FROM sentiment_buckets") == SIZE.mentions
    per_stock = "SELECT {} FROM (SELECT count(*) AS n FROM mentions GROUP BY stock_id) AS c"
    assert await scalar(db, per_stock.format("count(*)")) == SIZE.stocks
    assert await scalar(db, per_stock.format("max(n)")) > 4 * await scalar(
        db, per_stock.format("min(n)")
    )
    oldest_h = "SELECT extract(epoch FROM now() - min(published_at)) / 3600 FROM mentions"
    assert await scalar(db, oldest_h) <= SIZE.days * 24  # whole hours, plus the seconds since


async def test_seed_is_reused_when_already_at_size(db: Database, seeded: BenchConfig) -> None:
    last_id = await scalar(db, "SELECT max(id) FROM mentions")
    assert await seed(seeded, SIZE, log=False) == SIZE
    assert await scalar(db, "SELECT max(id) FROM mentions") == last_id


async def test_reference_operations_answer_alike_on_seeded_data(
    settings: Settings, seeded: BenchConfig
) -> None:
    workload = Workload(read_operations(), SIZE.stocks, seed=4)
    counts = await count_per_operation(settings, [workload.request(n) for n in MIX])
    assert all(c["results_match"] for c in counts.values()), counts
    assert counts["MentionFeed"]["naive"] > 10 * counts["MentionFeed"]["real"]


async def test_reuse_shifts_every_timestamp_by_the_whole_hours_since_seeding(
    db: Database, seeded: BenchConfig
) -> None:
    """Hourly buckets move onto each other's hours: the shift must not trip their key."""
    buckets = "SELECT count(*) FROM sentiment_buckets"
    count, total = await scalar(db, buckets), await scalar(db, "SELECT count(*) FROM mentions")
    newest = "SELECT extract(epoch FROM max(bucket_start)) FROM sentiment_buckets"
    latest = "SELECT extract(epoch FROM max(published_at)) FROM mentions"
    before_bucket, before_mention = await scalar(db, newest), await scalar(db, latest)
    async with db.engine.begin() as conn:
        await conn.execute(text("UPDATE bench_seed SET seeded_at = seeded_at - interval '3 hours'"))
    assert await seed(seeded, SIZE, log=False) == SIZE
    assert await scalar(db, newest) == before_bucket + 3 * 3600
    assert await scalar(db, latest) == before_mention + 3 * 3600
    assert (await scalar(db, buckets), await scalar(db, "SELECT count(*) FROM mentions")) == (
        count, total,
    )  # fmt: skip
    assert await scalar(db, "SELECT sum(mention_count) FROM sentiment_buckets") == SIZE.mentions
