"""A small market: N stocks with M mentions each, spread over the last hours."""

from __future__ import annotations

from datetime import timedelta

from app.db import Database
from app.timeutil import utcnow
from tests.factories.mentions import make_mentions
from tests.factories.stocks import make_stock

TEXTS = (
    "$SYM to the moon, great earnings and strong guidance!",
    "$SYM is a terrible disaster, selling everything",
    "$SYM trading sideways today",
)


async def make_universe(db: Database, stocks: int, mentions_per_stock: int) -> list[int]:
    """Create `stocks` stocks (S000, S001, ...) and their mentions; return the stock ids."""
    now = utcnow()
    ids = []
    async with db.sessionmaker.begin() as session:
        for i in range(stocks):
            stock = await make_stock(
                session, f"S{i:03d}", sector="Energy" if i % 2 else "Utilities"
            )
            ids.append(stock.id)
            times = [now - timedelta(minutes=7 * j + i) for j in range(mentions_per_stock)]
            text = TEXTS[i % len(TEXTS)].replace("SYM", f"S{i:03d}")
            await make_mentions(session, stock.id, times, text=text)
    return ids
