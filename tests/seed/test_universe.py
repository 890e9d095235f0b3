from __future__ import annotations

from collections import Counter

from sqlalchemy import select

from app.db import Database
from app.demo.seed import upsert_stocks
from app.demo.universe import SECTORS, load_universe
from app.models import Stock


def test_universe_is_the_sp500_with_names_exchanges_and_sectors() -> None:
    universe = load_universe()

    symbols = [c.symbol for c in universe]
    assert 490 <= len(universe) <= 510
    assert symbols == sorted(set(symbols))
    by_symbol = {c.symbol: c for c in universe}
    apple = by_symbol["AAPL"]
    assert "Apple" in apple.name
    assert (apple.exchange, apple.sector) == ("NASDAQ", "Information Technology")
    assert by_symbol["JPM"].exchange == "NYSE"
    assert by_symbol["XOM"].sector == "Energy"
    sectors = Counter(c.sector for c in universe)
    assert set(sectors) - {None} == set(SECTORS)
    assert sectors[None] < 20
    assert sum(c.exchange is not None for c in universe) > 480
    assert sum(c.industry is not None for c in universe) > 400
    assert all(len(c.name) <= 200 and len(c.industry or "") <= 200 for c in universe)


async def test_whole_universe_fits_the_stocks_table_and_is_stored_once(db: Database) -> None:
    universe = load_universe()

    assert await upsert_stocks(db, universe) == len(universe)
    assert await upsert_stocks(db, universe) == 0

    async with db.sessionmaker() as session:
        stored = (await session.scalars(select(Stock).order_by(Stock.symbol))).all()
    assert [(s.symbol, s.name, s.sector, s.industry) for s in stored] == [
        (c.symbol, c.name, c.sector, c.industry) for c in universe
    ]
