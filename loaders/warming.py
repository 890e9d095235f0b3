"""Cache warming: trending and the most mentioned stocks are loaded before clients ask.

Runs once at start-up and then on a schedule; each run goes through the loaders' cache-aside,
so it fills exactly the keys the reference operations read and only those that are missing.
"""

from __future__ import annotations

import asyncio
import logging

from app.cache import Cache
from app.db import Database
from app.monitoring.sql import background
from app.periodic import Periodic
from app.timeutil import utcnow
from loaders import HistoryKey, LoaderEnv, Loaders, MentionPageKey, StockPageKey, TrendingKey

log = logging.getLogger("insitechart.cache")

# The keys the reference operations ask for (Trending, StockDetail, StockList, MentionFeed).
TRENDING_KEYS = (
    TrendingKey("DAY", 20),
    TrendingKey("DAY", 10),
    TrendingKey("HOUR", 10),
    TrendingKey("WEEK", 10),
)
MENTION_PAGE_SIZES = (3, 10, 20)
HOURLY_POINTS = 48
STOCK_PAGES = (StockPageKey(50, None, None, None), StockPageKey(20, None, None, None))


async def warm(db: Database, cache: Cache, top_stocks: int) -> int:
    """Load trending, the first stock pages and the top stocks' fields; return the stocks warmed."""
    loaders = Loaders.build(LoaderEnv(db=db, now=utcnow(), cache=cache))
    rankings = await loaders.trending.load_many(list(TRENDING_KEYS))
    pages = await loaders.stock_page.load_many(list(STOCK_PAGES))
    ranked = [row.stock_id for row in rankings[0]]
    listed = [row.id for page in pages for row in page.rows]
    top = list(dict.fromkeys(ranked))[:top_stocks]
    stocks = [s for s in await loaders.stock_by_id.load_many(top) if s is not None]
    await asyncio.gather(
        loaders.sentiment.load_many(list(dict.fromkeys(top + listed))),
        loaders.stock_by_symbol.load_many([s.symbol for s in stocks]),
        loaders.hourly_history.load_many([HistoryKey(i, HOURLY_POINTS) for i in top]),
        loaders.mention_page.load_many(
            [MentionPageKey(i, size) for i in top for size in MENTION_PAGE_SIZES]
        ),
    )
    return len(top)


class Warmer:
    """The warming schedule of one worker: a task started with the app, cancelled at shutdown."""

    def __init__(
        self, db: Database, cache: Cache, top_stocks: int, on_start: bool, interval_s: float
    ) -> None:
        self.db = db
        self.cache = cache
        self.top_stocks = top_stocks
        self.on_start = on_start
        self.interval_s = interval_s
        self.runs = 0
        self.warmed = asyncio.Event()  # set after each successful run
        self._runner = Periodic("cache-warmer", self.run_once, interval_s, at_start=on_start)

    @property
    def running(self) -> bool:
        return self._runner.running

    def start(self) -> None:
        if self.on_start or self.interval_s > 0:
            self._runner.start()

    async def run_once(self) -> None:
        try:
            with background("cache warming"):
                count = await warm(self.db, self.cache, self.top_stocks)
        except Exception as exc:
            reason = str(exc).splitlines()[0] if str(exc) else ""
            log.warning("cache warming failed (%s: %s); will retry", type(exc).__name__, reason)
            return
        self.runs += 1
        self.warmed.set()
        log.debug("cache warmed: trending and %d stocks", count)

    async def stop(self) -> None:
        await self._runner.stop()
