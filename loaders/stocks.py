"""Stocks by id, by symbol, and pages of the stock list."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any, ClassVar

from sqlalchemy import (
    Executable,
    Integer,
    String,
    Subquery,
    bindparam,
    func,
    literal,
    or_,
    select,
    union_all,
)

from app.cache import Codec
from app.models import Stock
from loaders.base import KEYS, Loader, LoaderEnv, digest, in_keys
from loaders.codec import OptionalCodec, PageCodec, RowCodec
from loaders.rows import StockPage, StockRow

STOCK_COLUMNS = (Stock.id, Stock.symbol, Stock.name, Stock.exchange, Stock.sector, Stock.industry)


def stock_row(row: Any) -> StockRow:
    return StockRow(row.id, row.symbol, row.name, row.exchange, row.sector, row.industry)


@cache
def _by_id(dialect: str) -> Executable:
    return select(*STOCK_COLUMNS).where(in_keys(Stock.id, Integer(), dialect))


@cache
def _by_symbol(dialect: str) -> Executable:
    return select(*STOCK_COLUMNS).where(in_keys(Stock.symbol, String(), dialect))


# Stock rows change only when the universe is edited: cached by TTL, with no generation tag.
STOCK_CODEC: Codec[Any] = OptionalCodec(RowCodec(StockRow))


class StockByIdLoader(Loader[int, StockRow | None]):
    cache_type = "Stock"
    cache_ttl_s = StockRow.cache_ttl_s
    cache_codec: ClassVar[Codec[Any]] = STOCK_CODEC

    def cache_part(self, key: int) -> str:
        return f"id:{key}"

    async def load_batch(self, keys: Sequence[int]) -> list[StockRow | None]:
        db = self.env.db
        rows = await db.fetch(_by_id(db.dialect), {KEYS: list(keys)})
        found = {r.id: stock_row(r) for r in rows}
        return [found.get(k) for k in keys]


class StockBySymbolLoader(Loader[str, StockRow | None]):
    """Keys are upper-case symbols; every stock found is primed into the by-id loader."""

    cache_type = "Stock"
    cache_ttl_s = StockRow.cache_ttl_s
    cache_codec: ClassVar[Codec[Any]] = STOCK_CODEC

    def __init__(self, env: LoaderEnv, by_id: StockByIdLoader) -> None:
        super().__init__(env)
        self.by_id = by_id

    def cache_part(self, key: str) -> str:
        return f"sym:{key}"

    def on_cached(self, key: str, value: StockRow | None) -> None:
        if value is not None:
            self.by_id.prime(value.id, value)

    async def load_batch(self, keys: Sequence[str]) -> list[StockRow | None]:
        db = self.env.db
        rows = await db.fetch(_by_symbol(db.dialect), {KEYS: list(keys)})
        found = {r.symbol: stock_row(r) for r in rows}
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


# Which filters a page key uses: the statement's shape (its values are bound per batch).
PageShape = tuple[bool, bool, bool]


def _page_shape(key: StockPageKey) -> PageShape:
    return key.after_symbol is not None, key.sector is not None, key.search is not None


def _page_params(index: int, key: StockPageKey) -> dict[str, Any]:
    params: dict[str, Any] = {f"limit_{index}": key.first + 1}
    if key.after_symbol is not None:
        params[f"after_{index}"] = key.after_symbol
    if key.sector is not None:
        params[f"sector_{index}"] = key.sector.lower()
    if key.search is not None:
        pattern = _escape_like(key.search.lower())
        params[f"prefix_{index}"] = f"{pattern}%"
        params[f"infix_{index}"] = f"%{pattern}%"
    return params


def _page_query(index: int, shape: PageShape) -> Subquery:
    after, sector, search = shape
    stmt = select(literal(index).label("k"), *STOCK_COLUMNS)
    if after:
        stmt = stmt.where(Stock.symbol > bindparam(f"after_{index}", type_=String()))
    if sector:
        stmt = stmt.where(func.lower(Stock.sector) == bindparam(f"sector_{index}", type_=String()))
    if search:
        prefix = bindparam(f"prefix_{index}", type_=String())
        infix = bindparam(f"infix_{index}", type_=String())
        stmt = stmt.where(
            or_(
                func.lower(Stock.symbol).like(prefix, escape="\\"),
                func.lower(Stock.name).like(infix, escape="\\"),
            )
        )
    limit = bindparam(f"limit_{index}", type_=Integer())
    return stmt.order_by(Stock.symbol).limit(limit).subquery()


@lru_cache(maxsize=64)
def _pages(shapes: tuple[PageShape, ...]) -> Executable:
    selects = [_page_query(i, shape).select() for i, shape in enumerate(shapes)]
    return selects[0] if len(selects) == 1 else union_all(*selects)


class StockPageLoader(Loader[StockPageKey, StockPage]):
    """Pages of stocks in symbol order (keyset on symbol); primes the by-id loader."""

    cache_type = "Stock"
    cache_ttl_s = StockRow.cache_ttl_s
    cache_codec: ClassVar[Codec[Any]] = PageCodec(StockPage, RowCodec(StockRow))

    def __init__(self, env: LoaderEnv, by_id: StockByIdLoader) -> None:
        super().__init__(env)
        self.by_id = by_id

    def cache_part(self, key: StockPageKey) -> str:
        return "page:" + digest(key.first, key.after_symbol, key.sector, key.search)

    def on_cached(self, key: StockPageKey, value: StockPage) -> None:
        for row in value.rows:
            self.by_id.prime(row.id, row)

    async def load_batch(self, keys: Sequence[StockPageKey]) -> list[StockPage]:
        stmt = _pages(tuple(_page_shape(key) for key in keys))
        params: dict[str, Any] = {}
        for i, key in enumerate(keys):
            params.update(_page_params(i, key))
        grouped: list[list[StockRow]] = [[] for _ in keys]
        for r in await self.env.db.fetch(stmt, params):
            grouped[r.k].append(stock_row(r))
        pages = []
        for key, rows in zip(keys, grouped, strict=True):
            rows.sort(key=lambda s: s.symbol)
            for row in rows[: key.first]:
                self.by_id.prime(row.id, row)
            pages.append(StockPage(tuple(rows[: key.first]), len(rows) > key.first))
        return pages
