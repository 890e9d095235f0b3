"""The market quote of a stock, from the configured provider."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry

from app.quotes import QuoteData


@strawberry.enum(description="Where a quote came from; SIMULATED is not market data.")
class QuoteSource(Enum):
    SIMULATED = "SIMULATED"
    FINNHUB = "FINNHUB"


@strawberry.type(description="Latest price of a stock and its move since the previous close.")
class Quote:
    price: float
    change: float = strawberry.field(description="price - previousClose.")
    change_percent: float = strawberry.field(description="100 * change / previousClose.")
    open: float
    high: float
    low: float
    previous_close: float
    as_of: datetime = strawberry.field(description="When the provider last saw the price.")
    source: QuoteSource

    @classmethod
    def from_data(cls, data: QuoteData) -> Quote:
        return cls(
            price=data.price,
            change=data.change,
            change_percent=data.change_percent,
            open=data.open,
            high=data.high,
            low=data.low,
            previous_close=data.previous_close,
            as_of=data.as_of,
            source=QuoteSource(data.source),
        )
