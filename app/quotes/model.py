"""What a quote is and what every provider offers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

Source = Literal["SIMULATED", "FINNHUB"]


@dataclass(frozen=True, slots=True)
class QuoteData:
    symbol: str
    price: float
    change: float
    change_percent: float
    open: float
    high: float
    low: float
    previous_close: float
    as_of: datetime
    source: Source


class QuoteProvider(Protocol):
    """Fetch quotes for a batch of symbols; one entry per symbol, None where it failed."""

    source: Source

    async def fetch_many(self, symbols: Sequence[str]) -> list[QuoteData | None]: ...

    async def aclose(self) -> None: ...
