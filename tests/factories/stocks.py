from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Stock


async def make_stock(
    session: AsyncSession,
    symbol: str = "AAPL",
    name: str | None = None,
    sector: str | None = "Information Technology",
    industry: str | None = "Technology Hardware",
    exchange: str | None = "NASDAQ",
) -> Stock:
    stock = Stock(
        symbol=symbol,
        name=name or f"{symbol} Inc.",
        sector=sector,
        industry=industry,
        exchange=exchange,
    )
    session.add(stock)
    await session.flush()
    return stock
