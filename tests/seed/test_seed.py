from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.exc import IntegrityError

from app.config import Settings
from app.db import Database
from app.demo.seed import SeedError, SeedOptions, count_mentions, seed
from app.models import Mention, SentimentBucket, Stock
from app.sentiment import label_for
from app.store import MENTION_COLUMNS, store_mentions
from app.timeutil import floor_hour

NOW = datetime(2026, 11, 25, 15, 40, tzinfo=UTC)
SMALL = SeedOptions(mentions=600, days=3, stocks=30, batch_size=128, random_seed=7)


async def mention_rows(db: Database) -> list[Mention]:
    async with db.sessionmaker() as session:
        return list((await session.scalars(select(Mention).order_by(Mention.id))).all())


async def test_seed_stores_the_stocks_and_mentions_asked_for_with_buckets_that_add_up(
    db: Database,
) -> None:
    report = await seed(db, SMALL, now=NOW)

    assert (report.stocks, report.stocks_added, report.mentions_added) == (30, 30, 600)
    async with db.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Stock)) == 30
        buckets = (await session.scalars(select(SentimentBucket))).all()
    mentions = await mention_rows(db)
    assert len(mentions) == 600
    assert {m.external_id for m in mentions} == {f"seed-{i}" for i in range(600)}

    expected: dict[tuple[int, datetime], list[float]] = defaultdict(lambda: [0, 0, 0, 0, 0.0])
    for m in mentions:
        acc = expected[(m.stock_id, floor_hour(m.published_at))]
        acc[0] += 1
        acc[("POSITIVE", "NEGATIVE", "NEUTRAL").index(label_for(m.compound)) + 1] += 1
        acc[4] += m.compound
    assert sum(b.mention_count for b in buckets) == 600
    assert len(buckets) == len(expected)
    for b in buckets:
        count, positive, negative, neutral, total = expected[(b.stock_id, b.bucket_start)]
        assert (b.mention_count, b.positive_count, b.negative_count, b.neutral_count) == (
            count,
            positive,
            negative,
            neutral,
        )
        assert b.compound_sum == pytest.approx(total)
        assert b.compound_mean == pytest.approx(total / count)


async def test_second_run_adds_nothing_and_append_continues_after_the_highest(
    db: Database,
) -> None:
    await seed(db, SMALL, now=NOW)

    again = await seed(db, SMALL, now=NOW)
    assert (again.stocks_added, again.mentions_added) == (0, 0)
    assert await count_mentions(db) == 600

    more = await seed(db, replace(SMALL, mentions=100, append=True))
    assert (more.first_index, more.stop_index, more.mentions_added) == (600, 700, 100)
    ids = {m.external_id for m in await mention_rows(db)}
    assert ids == {f"seed-{i}" for i in range(700)}


async def test_interrupted_run_resumes_where_it_stopped(db: Database) -> None:
    await seed(db, replace(SMALL, mentions=250), now=NOW)

    rest = await seed(db, SMALL, now=NOW)

    assert (rest.first_index, rest.mentions_added) == (250, 350)
    assert await count_mentions(db) == 600


async def test_same_random_seed_gives_the_same_rows_whatever_the_batch_size(
    db: Database, settings: Settings
) -> None:
    await seed(db, replace(SMALL, batch_size=600), now=NOW)
    first = [_content(m) for m in await mention_rows(db)]
    async with db.engine.begin() as conn:
        await conn.execute(delete(SentimentBucket))
        await conn.execute(delete(Mention))
        if db.dialect == "postgresql":  # the partitioned schema's keys (migration 0003)
            await conn.execute(text("DELETE FROM mention_keys"))

    await seed(db, replace(SMALL, batch_size=37), now=NOW)
    second = [_content(m) for m in await mention_rows(db)]

    assert first == second


async def test_resent_mention_is_not_stored_twice(db: Database) -> None:
    await seed(db, SMALL, now=NOW)
    original = (await mention_rows(db))[0]
    resent = {column: getattr(original, column) for column in MENTION_COLUMNS}

    async with db.sessionmaker.begin() as session:
        stored = await store_mentions(session, [resent, {**resent, "text": "edited"}])
    assert stored == []
    assert await count_mentions(db) == 600
    async with db.sessionmaker() as session:
        total = await session.scalar(select(func.sum(SentimentBucket.mention_count)))
    assert total == 600

    # The constraint itself holds for a writer that does not ask to skip conflicts.
    with pytest.raises(IntegrityError):
        async with db.sessionmaker.begin() as session:
            await session.execute(insert(Mention), [resent])
    assert await count_mentions(db) == 600


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"mentions": -1}, "--mentions must be between 0 and 50000000, got -1"),
        ({"days": 0}, "--days must be between 1 and 365, got 0"),
        ({"stocks": 0}, "--stocks must be between 1 and"),
        ({"batch_size": 100_000}, "--batch-size must be between 1 and 50000, got 100000"),
    ],
)
async def test_out_of_range_option_is_refused_naming_it_before_any_write(
    db: Database, change: dict[str, Any], message: str
) -> None:
    with pytest.raises(SeedError, match=message.replace("+", r"\+")):
        await seed(db, replace(SMALL, **change), now=NOW)
    async with db.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Stock)) == 0


def _content(m: Mention) -> tuple[object, ...]:
    return (
        m.external_id,
        m.stock_id,
        m.source,
        m.author,
        m.text,
        m.url,
        m.published_at,
        m.compound,
    )


async def test_failure_midway_keeps_the_committed_batches_and_a_rerun_completes(
    db: Database,
) -> None:
    batches: list[int] = []

    def stop_after_two(n: int) -> None:
        batches.append(n)
        if len(batches) == 2:
            raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError, match="interrupted"):
        await seed(db, SMALL, now=NOW, on_batch=stop_after_two)
    assert await count_mentions(db) == 2 * SMALL.batch_size

    rest = await seed(db, SMALL, now=NOW)
    assert (rest.first_index, rest.mentions_added) == (256, 344)
    assert await count_mentions(db) == 600


async def test_other_ids_with_the_seed_prefix_do_not_confuse_the_seed(db: Database) -> None:
    await seed(db, replace(SMALL, mentions=100), now=NOW)
    stranger = {c: getattr((await mention_rows(db))[0], c) for c in MENTION_COLUMNS}
    async with db.sessionmaker.begin() as session:
        await store_mentions(session, [{**stranger, "external_id": "seed-999x"}])
        await store_mentions(session, [{**stranger, "external_id": "seed-"}])

    rest = await seed(db, SMALL, now=NOW)

    assert (rest.first_index, rest.mentions_added) == (100, 500)
