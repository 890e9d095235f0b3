"""Offline quotes: a deterministic random walk per symbol, labelled SIMULATED."""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from app.quotes.model import QuoteData, Source
from app.timeutil import as_utc, floor_day, utcnow

STEP = timedelta(minutes=5)
STEP_VOLATILITY = 0.002  # log-return standard deviation per 5-minute step
DAILY_GAP = 0.01  # standard deviation of the open relative to the previous close


def _seed(*parts: object) -> int:
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big")


def simulate(symbol: str, at: datetime) -> QuoteData:
    """The quote of `symbol` at `at`: the same inputs always give the same quote."""
    at = as_utc(at)
    day = floor_day(at)
    base = 10 + _seed(symbol) % 490  # a stable price level per symbol, 10..499
    rng = random.Random(_seed(symbol, day.date().isoformat()))
    previous_close = base * math.exp(rng.gauss(0.0, 0.05))
    price = open_ = previous_close * math.exp(rng.gauss(0.0, DAILY_GAP))
    high = low = open_
    steps = int((at - day) / STEP)
    for _ in range(steps):
        price *= math.exp(rng.gauss(0.0, STEP_VOLATILITY))
        high, low = max(high, price), min(low, price)
    change = price - previous_close
    return QuoteData(
        symbol=symbol,
        price=round(price, 4),
        change=round(change, 4),
        change_percent=round(100 * change / previous_close, 4),
        open=round(open_, 4),
        high=round(high, 4),
        low=round(low, 4),
        previous_close=round(previous_close, 4),
        as_of=day + steps * STEP,
        source="SIMULATED",
    )


class SimulatedProvider:
    """The embedded default: works offline, never fails, and says it is not market data."""

    source: Source = "SIMULATED"

    def __init__(self, clock: Callable[[], datetime] = utcnow) -> None:
        self.clock = clock

    async def fetch_many(self, symbols: Sequence[str]) -> list[QuoteData | None]:
        now = self.clock()
        return [simulate(symbol, now) for symbol in symbols]

    async def aclose(self) -> None:
        return None
