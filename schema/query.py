"""The Query root: thin resolvers that validate arguments and hand keys to loaders."""

from __future__ import annotations

import re

import strawberry

from app.text import has_lone_surrogate
from loaders import StockPageKey, TrendingKey
from schema import cursors
from schema.admin import ServerStats, server_stats
from schema.context import Context
from schema.errors import BadUserInput, check_range
from schema.types import (
    MAX_FIRST,
    Mention,
    Stock,
    StockConnection,
    TrendingStock,
    TrendWindow,
)

MAX_SYMBOLS = 100
MAX_SEARCH = 64
MAX_SECTOR = 100
SYMBOL = re.compile(r"[A-Z0-9][A-Z0-9.\-]{0,15}")
ID = re.compile(r"[0-9]{1,18}")  # re's [0-9] is ASCII only; 18 digits stay below 2^63


def normalize_symbol(field: str, symbol: str) -> str:
    # ASCII first: str.upper() maps some letters outside it onto ASCII ones (U+017F -> "S").
    value = symbol.strip().upper() if symbol.isascii() else ""
    if not SYMBOL.fullmatch(value):
        raise BadUserInput(
            field,
            "a symbol is 1 to 16 letters, digits, '.' or '-'",
            maxLength=16,
        )
    return value


def check_text(field: str, value: str, limit: int) -> str:
    """A string argument fit for SQL: at most `limit` characters, no NUL, no lone surrogate."""
    if len(value) > limit:
        raise BadUserInput(field, f"is longer than {limit} characters", maxLength=limit)
    if "\x00" in value:
        raise BadUserInput(field, "must not contain the NUL character")
    if has_lone_surrogate(value):
        raise BadUserInput(field, "holds a lone surrogate, which is not text")
    return value


def parse_id(field: str, value: str) -> int:
    """A database id from an ID argument: 1 to 18 ASCII digits (str.isdigit takes "²", "١٢٣")."""
    if not ID.fullmatch(value):
        raise BadUserInput(field, "is not a mention id: 1 to 18 digits 0-9")
    return int(value)


@strawberry.type
class Query:
    @strawberry.field(description="A stock by symbol, case-insensitive; null when unknown.")
    async def stock(self, info: strawberry.Info[Context], symbol: str) -> Stock | None:
        row = await info.context.loaders.stock_by_symbol.load(normalize_symbol("symbol", symbol))
        return Stock.from_row(row) if row is not None else None

    @strawberry.field(description="Stocks in symbol order; `first` is 1..100.")
    async def stocks(
        self,
        info: strawberry.Info[Context],
        first: int = 20,
        after: str | None = None,
        sector: str | None = None,
        search: str | None = None,
    ) -> StockConnection:
        check_range("first", first, 1, MAX_FIRST)
        key = StockPageKey(
            first=first,
            after_symbol=cursors.decode_stock("after", after) if after is not None else None,
            sector=check_text("sector", sector, MAX_SECTOR) if sector is not None else None,
            search=check_text("search", search, MAX_SEARCH) if search else None,
        )
        return StockConnection.from_page(await info.context.loaders.stock_page.load(key))

    @strawberry.field(description="Stocks in the order asked, null for unknown; at most 100.")
    async def stocks_by_symbols(
        self, info: strawberry.Info[Context], symbols: list[str]
    ) -> list[Stock | None]:
        if len(symbols) > MAX_SYMBOLS:
            raise BadUserInput(
                "symbols", f"at most {MAX_SYMBOLS} symbols, got {len(symbols)}", max=MAX_SYMBOLS
            )
        wanted = [normalize_symbol(f"symbols[{i}]", s) for i, s in enumerate(symbols)]
        rows = await info.context.loaders.stock_by_symbol.load_many(wanted)
        return [Stock.from_row(r) if r is not None else None for r in rows]

    @strawberry.field(description="Stocks ranked by mention volume and its growth; `limit` 1..100.")
    async def trending_stocks(
        self,
        info: strawberry.Info[Context],
        window: TrendWindow = TrendWindow.DAY,
        limit: int = 10,
    ) -> list[TrendingStock]:
        check_range("limit", limit, 1, MAX_FIRST)
        rows = await info.context.loaders.trending.load(TrendingKey(window.value, limit))
        return [TrendingStock.from_row(rank, row) for rank, row in enumerate(rows, start=1)]

    server_stats: ServerStats = strawberry.field(
        resolver=server_stats,
        description="Latency, errors, caches, SQL and resources of this worker; `admin` scope.",
    )

    @strawberry.field(description="A mention by id; null when unknown.")
    async def mention(self, info: strawberry.Info[Context], id: strawberry.ID) -> Mention | None:
        row = await info.context.loaders.mention_by_id.load(parse_id("id", str(id)))
        return Mention.from_row(row) if row is not None else None
