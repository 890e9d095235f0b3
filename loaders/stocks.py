"""Stocks by id, by symbol, and pages of the stock list."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Integer, String, Subquery, func, literal, or_, select, union_all

from app.models import Stock
from loaders.base import Loader, LoaderEnv, in_keys
from loaders.rows import StockPage, StockRow

STOCK_COLUMNS = (Stock.id, Stock.symbol, Stock.name, Stock.exchange, Stock.sector, Stock.industry)


def stock_row(row: Any) -> StockRow:
    return StockRow(row.id, row.symbol, row.name, row.exchange, row.sector, row.industry)


class StockByIdLoader(Loader[int, StockRow | None]):
    async def load_batch(self, keys: Sequence[int]) -> list[StockRow | None]:
        stmt = select(*STOCK_COLUMNS).where(in_keys(Stock.id, keys, Integer(), self.env.db.dialect))
        async with self.env.db.sessionmaker() as session:
            found = {r.id: stock_row(r) for r in await session.execute(stmt)}
        return [found.get(k) for k in keys]


class StockBySymbolLoader(Loader[str, StockRow | None]):
    """Keys are upper-case symbols; every stock found is primed into the by-id loader."""

    def __init__(self, env: LoaderEnv, by_id: StockByIdLoader) -> None:
        super().__init__(env)
        self.by_id = by_id

    async def load_batch(self, keys: Sequence[str]) -> list[StockRow | None]:
        stmt = select(*STOCK_COLUMNS).where(
            in_keys(Stock.symbol, keys, String(), self.env.db.dialect)
        )
        async with self.env.db.sessionmaker() as session:
            found = {r.symbol: stock_row(r) for r in await session.execute(stmt)}
        for row in found.values():
            self.by_id.prime(row.id, row)
        return [found.get(k) for k in keys]


@dataclass(frozen=True, slots=True)
class StockPageKey:
    first: int
    after_symbol: str | None
    sector: str | None
    search: str | None


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _page_query(index: int, key: StockPageKey) -> Subquery:
    stmt = select(literal(index).label("k"), *STOCK_COLUMNS)
    if key.after_symbol is not None:
        stmt = stmt.where(Stock.symbol > key.after_symbol)
    if key.sector is not None:
        stmt = stmt.where(func.lower(Stock.sector) == key.sector.lower())
    if key.search is not None:
        pattern = _escape_like(key.search.lower())
        stmt = stmt.where(
            or_(
                func.lower(Stock.symbol).like(f"{pattern}%", escape="\\"),
                func.lower(Stock.name).like(f"%{pattern}%", escape="\\"),
            )
        )
    return stmt.order_by(Stock.symbol).limit(key.first + 1).subquery()


class StockPageLoader(Loader[StockPageKey, StockPage]):
    """Pages of stocks in symbol order (keyset on symbol); primes the by-id loader."""

    def __init__(self, env: LoaderEnv, by_id: StockByIdLoader) -> None:
        super().__init__(env)
        self.by_id = by_id

    async def load_batch(self, keys: Sequence[StockPageKey]) -> list[StockPage]:
        selects = [_page_query(i, key).select() for i, key in enumerate(keys)]
        stmt = selects[0] if len(selects) == 1 else union_all(*selects)
        grouped: list[list[StockRow]] = [[] for _ in keys]
        async with self.env.db.sessionmaker() as session:
            for r in await session.execute(stmt):
                grouped[r.k].append(stock_row(r))
        pages = []
        for key, rows in zip(keys, grouped, strict=True):
            rows.sort(key=lambda s: s.symbol)
            for row in rows[: key.first]:
                self.by_id.prime(row.id, row)
            pages.append(StockPage(tuple(rows[: key.first]), len(rows) > key.first))
        return pages
