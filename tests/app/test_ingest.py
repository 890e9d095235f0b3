from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.engine import Engine

from app.config import Settings
from app.db import Database
from app.ingest import cashtags, ingest
from app.models import Mention, SentimentBucket
from app.resources import Resources
from app.store import StoredMention
from app.timeutil import utcnow
from tests.factories.mentions import mention
from tests.factories.stocks import make_stock
from tests.sqlcount import count_statements


@pytest.fixture
async def resources(db: Database, settings: Settings) -> AsyncIterator[Resources]:
    async with db.sessionmaker.begin() as session:
        await make_stock(session, "AAPL")
        await make_stock(session, "TSLA")
    res = Resources.open(settings)
    try:
        yield res
    finally:
        await res.close()


async def stored_counts(db: Database) -> tuple[int, int]:
    async with db.sessionmaker() as session:
        mentions = (await session.execute(select(func.count()).select_from(Mention))).scalar_one()
        buckets = (
            await session.execute(select(func.coalesce(func.sum(SentimentBucket.mention_count), 0)))
        ).scalar_one()
    return int(mentions), int(buckets)


def test_cashtags_are_tickers_not_amounts() -> None:
    assert cashtags("$aapl up, $TSLA down, $AAPL again, paid $5 and $1.2M, BRK $BRK.B") == [
        "AAPL",
        "TSLA",
        "BRK.B",
    ]


async def test_ingest_attributes_by_symbol_or_cashtag_scores_and_rolls_up(
    resources: Resources, db: Database
) -> None:
    result = await ingest(
        resources,
        [
            mention("a", text="I love this company, wonderful results", symbol="tsla"),
            mention("b", text="$ZZZZ and $AAPL are a terrible disaster"),
        ],
    )
    assert (result.accepted, result.duplicates, result.rejected) == (2, 0, [])
    async with db.sessionmaker() as session:
        rows = (await session.execute(select(Mention).order_by(Mention.external_id))).scalars()
        by_id = {m.external_id: m for m in rows}
    assert by_id["a"].compound > 0.05 and by_id["b"].compound < -0.05
    assert by_id["a"].stock_id != by_id["b"].stock_id
    assert await stored_counts(db) == (2, 2)


async def test_resent_mentions_are_counted_as_duplicates_and_stored_once(
    resources: Resources, db: Database
) -> None:
    first = await ingest(resources, [mention("x1"), mention("x2"), mention("x1")])
    assert (first.accepted, first.duplicates) == (2, 1)
    again = await ingest(resources, [mention("x1"), mention("x2"), mention("x3")])
    assert (again.accepted, again.duplicates) == (1, 2)
    assert await stored_counts(db) == (3, 3)


async def test_invalid_mentions_are_reported_with_index_and_code_and_valid_ones_stored(
    resources: Resources, db: Database
) -> None:
    now = utcnow()
    batch = [
        mention("ok1"),
        mention("e1", symbol="NOPE"),
        mention("e2", text="no ticker named here"),
        mention("e3", text="   "),
        mention("e4", text="$AAPL " + "x" * 10_000),
        mention("e5", published_at=now + timedelta(hours=1)),
        mention("e6", url="javascript:alert(1)"),
        mention("e7", source="MYSPACE"),
        mention("e8", author="a" * 129),
        mention("e9", symbol="bad symbol!"),
        mention("", text="$AAPL fine"),
        mention("ok2", url="https://example.com/p/1", published_at=now + timedelta(seconds=30)),
    ]
    result = await ingest(resources, batch)
    codes = [(r.index, r.external_id, r.code) for r in result.rejected]
    assert codes == [
        (1, "e1", "UNKNOWN_SYMBOL"),
        (2, "e2", "NO_SYMBOL"),
        (3, "e3", "EMPTY_TEXT"),
        (4, "e4", "TEXT_TOO_LONG"),
        (5, "e5", "FUTURE_TIMESTAMP"),
        (6, "e6", "BAD_URL"),
        (7, "e7", "UNKNOWN_SOURCE"),
        (8, "e8", "FIELD_TOO_LONG"),
        (9, "e9", "BAD_SYMBOL"),
        (10, "", "EMPTY_EXTERNAL_ID"),
    ]
    assert all(r.message for r in result.rejected)
    assert "author" in result.rejected[7].message and "128" in result.rejected[7].message
    assert result.accepted == 2
    assert await stored_counts(db) == (2, 2)


async def test_a_database_failure_stores_nothing_from_the_batch(
    resources: Resources, db: Database
) -> None:
    def fail_on_buckets(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
        if "sentiment_buckets" in statement:
            raise RuntimeError("disk full")

    event.listen(Engine, "before_cursor_execute", fail_on_buckets)
    try:
        with pytest.raises(Exception, match="disk full"):
            await ingest(resources, [mention("f1"), mention("f2")])
    finally:
        event.remove(Engine, "before_cursor_execute", fail_on_buckets)
    assert await stored_counts(db) == (0, 0)
    result = await ingest(resources, [mention("f1"), mention("f2")])
    assert result.accepted == 2


async def test_ingest_uses_constant_statements_and_runs_after_write_hooks_once(
    resources: Resources,
) -> None:
    seen: list[int] = []

    async def hook(stored: Sequence[StoredMention]) -> None:
        seen.append(len(stored))

    resources.after_write.append(hook)
    with count_statements() as log:
        result = await ingest(resources, [mention(f"m{i}") for i in range(200)])
    assert result.accepted == 200
    assert seen == [200]
    inserts = [s.split("(")[0].strip() for s in log.statements if s.lstrip().startswith("INSERT")]
    # PostgreSQL's partitioned schema (0003) claims the keys first (app/mention_keys.py).
    keyed = ["INSERT INTO mention_keys"] if resources.db.dialect == "postgresql" else []
    assert inserts == [
        *keyed,
        "INSERT INTO mentions",
        "INSERT INTO sentiment_buckets",
        "INSERT INTO live_events",  # the events, in the same transaction (app/realtime/outbox.py)
    ]
    # + the stock lookup before, the two reads the events are built from, and on PostgreSQL the
    # outbox lock that keeps cursors in commit order (and, once per engine, the probe for the
    # keyed schema)
    selects = [
        s for s in log.statements if s.lstrip().startswith("SELECT") and "to_regclass" not in s
    ]
    assert len(selects) == (4 if resources.db.dialect == "postgresql" else 3)
    assert sum("pg_advisory_xact_lock" in s for s in selects) == len(selects) - 3
