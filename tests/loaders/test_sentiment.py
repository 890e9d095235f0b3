from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.db import Database
from loaders import HistoryKey, LoaderEnv, Loaders
from tests.factories.mentions import make_mentions
from tests.factories.stocks import make_stock
from tests.sqlcount import count_statements

NOW = datetime(2026, 11, 28, 15, 30, tzinfo=UTC)
UP = "$AAA is great, love it, superb"
DOWN = "$AAA is awful, terrible, hate it"


async def test_sentiment_covers_the_current_hour_and_the_23_before(db: Database) -> None:
    async with db.sessionmaker.begin() as session:
        stock = await make_stock(session, "AAA")
        other = await make_stock(session, "BBB")
        await make_mentions(session, stock.id, [NOW, NOW - timedelta(hours=23)], UP)
        await make_mentions(session, stock.id, [NOW - timedelta(hours=1)], DOWN)
        # 24 hours before the current hour began: outside the window.
        await make_mentions(session, stock.id, [datetime(2026, 11, 27, 14, 59, tzinfo=UTC)], DOWN)
    loaders = Loaders.build(LoaderEnv(db=db, now=NOW))
    with count_statements() as log:
        found, missing = await loaders.sentiment.load_many([stock.id, other.id])
    assert log.count == 1
    assert missing is None
    assert found is not None
    assert (found.mention_count, found.positive, found.negative, found.neutral) == (3, 2, 1, 0)


async def test_hourly_history_is_oldest_first_with_empty_hours_filled(db: Database) -> None:
    async with db.sessionmaker.begin() as session:
        stock = await make_stock(session, "AAA")
        await make_mentions(session, stock.id, [NOW, NOW - timedelta(minutes=10)], UP)
        await make_mentions(session, stock.id, [NOW - timedelta(hours=2)], DOWN)
    loaders = Loaders.build(LoaderEnv(db=db, now=NOW))
    points = await loaders.hourly_history.load(HistoryKey(stock.id, 4))
    assert [p.bucket_start.hour for p in points] == [12, 13, 14, 15]
    assert [p.mention_count for p in points] == [0, 1, 0, 2]
    assert points[1].negative == 1
    assert points[3].positive == 2
    assert points[3].compound_score > 0.5


async def test_daily_history_sums_the_hours_of_each_utc_day(db: Database) -> None:
    async with db.sessionmaker.begin() as session:
        stock = await make_stock(session, "AAA")
        await make_mentions(session, stock.id, [NOW, NOW - timedelta(hours=15)], UP)
        await make_mentions(session, stock.id, [NOW - timedelta(days=1, hours=1)], DOWN)
    loaders = Loaders.build(LoaderEnv(db=db, now=NOW))
    points = await loaders.daily_history.load(HistoryKey(stock.id, 3))
    assert [p.bucket_start.day for p in points] == [26, 27, 28]
    assert [p.mention_count for p in points] == [0, 1, 2]
    assert all(p.bucket_start.tzinfo is not None for p in points)
