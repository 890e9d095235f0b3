"""The Query root: thin resolvers that validate arguments and hand keys to loaders."""

from __future__ import annotations

import re

import strawberry

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


def normalize_symbol(field: str, symbol: str) -> str:
    value = symbol.strip().upper()
    if not SYMBOL.fullmatch(value):
        raise BadUserInput(
            field,
            "a symbol is 1 to 16 letters, digits, '.' or '-'",
            maxLength=16,
        )
    return value


def check_length(field: str, value: str, limit: int) -> str:
    if len(value) > limit:
        raise BadUserInput(field, f"is longer than {limit} characters", maxLength=limit)
    return value


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
            sector=check_length("sector", sector, MAX_SECTOR) if sector is not None else None,
            search=check_length("search", search, MAX_SEARCH) if search else None,
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
        if not str(id).isdigit() or len(str(id)) > 18:
            raise BadUserInput("id", "is not a mention id")
        row = await info.context.loaders.mention_by_id.load(int(id))
        return Mention.from_row(row) if row is not None else None
