from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.db import Database
from loaders import LoaderEnv, Loaders, MentionPageKey
from tests.factories.mentions import make_mentions
from tests.factories.stocks import make_stock
from tests.sqlcount import count_statements

NOW = datetime(2026, 11, 28, 15, 30, tzinfo=UTC)


async def test_mention_pages_walk_every_mention_once_newest_first(db: Database) -> None:
    async with db.sessionmaker.begin() as session:
        stock = await make_stock(session, "AAA")
        # Ties on published_at are broken by id, so pages never skip or repeat a row.
        times = [NOW - timedelta(minutes=m // 3) for m in range(25)]
        stored = await make_mentions(session, stock.id, times)
    seen: list[int] = []
    after = None
    pages = 0
    while True:
        loaders = Loaders.build(LoaderEnv(db=db, now=NOW))
        page = await loaders.mention_page.load(MentionPageKey(stock.id, 4, after))
        seen.extend(r.id for r in page.rows)
        pages += 1
        if not page.has_next:
            break
        last = page.rows[-1]
        after = (last.published_at, last.id)
    assert pages == 7
    assert len(seen) == len(set(seen)) == 25
    expected = sorted(stored, key=lambda m: (m.published_at, m.id), reverse=True)
    assert seen == [m.id for m in expected]


async def test_mention_page_loader_batches_many_stocks_into_one_statement(db: Database) -> None:
    async with db.sessionmaker.begin() as session:
        ids = []
        for i in range(12):
            stock = await make_stock(session, f"S{i:02d}")
            ids.append(stock.id)
            await make_mentions(session, stock.id, [NOW - timedelta(minutes=j) for j in range(i)])
        await make_mentions(session, ids[5], [NOW], source="NEWS")
    loaders = Loaders.build(LoaderEnv(db=db, now=NOW))
    keys = [MentionPageKey(i, 3) for i in ids] + [MentionPageKey(ids[5], 10, None, "NEWS")]
    with count_statements() as log:
        pages = await loaders.mention_page.load_many(keys)
    assert log.count == 1
    assert [len(p.rows) for p in pages[:12]] == [min(i, 3) for i in range(12)]
    assert [p.has_next for p in pages[:12]] == [i > 3 for i in range(12)]
    assert [r.source for r in pages[12].rows] == ["NEWS"]
    # The page primed the mention-by-id loader: loading one of its rows runs no SQL.
    with count_statements() as log:
        row = await loaders.mention_by_id.load(pages[11].rows[0].id)
    assert log.count == 0
    assert row == pages[11].rows[0]
    # Only the key asked for got a future; the other primed rows are plain values until asked.
    assert len(loaders.mention_by_id._cache) == 1
    assert len(loaders.mention_by_id._primed) == len({r.id for p in pages for r in p.rows}) - 1
    other = pages[11].rows[1]
    loaders.mention_by_id.prime(other.id, pages[11].rows[2])  # held already: unchanged
    assert await loaders.mention_by_id.load(other.id) == other
    loaders.mention_by_id.clear(pages[10].rows[0].id)  # forgotten: read again
    with count_statements() as log:
        assert await loaders.mention_by_id.load(pages[10].rows[0].id) == pages[10].rows[0]
    assert log.count == 1
    loaders.mention_by_id.clear_all()
    assert not loaders.mention_by_id._primed and not loaders.mention_by_id._cache


async def test_mention_page_of_stock_without_mentions_is_empty(db: Database) -> None:
    async with db.sessionmaker.begin() as session:
        stock = await make_stock(session, "AAA")
    loaders = Loaders.build(LoaderEnv(db=db, now=NOW))
    page = await loaders.mention_page.load(MentionPageKey(stock.id, 20))
    assert page.rows == ()
    assert page.has_next is False
