"""The quote cache in front of a provider: bounded, expiring, and only for quotes that arrived."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Sequence

from app.quotes.model import QuoteData, QuoteProvider, Source


class QuoteCache:
    """A TTL cache with least-recently-stored eviction past `max_entries`."""

    def __init__(
        self, ttl_s: float, max_entries: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self.clock = clock
        self.entries: OrderedDict[str, tuple[float, QuoteData]] = OrderedDict()

    def get(self, symbol: str) -> QuoteData | None:
        entry = self.entries.get(symbol)
        if entry is None:
            return None
        expires_at, quote = entry
        if self.clock() >= expires_at:
            del self.entries[symbol]
            return None
        return quote

    def put(self, quote: QuoteData) -> None:
        if self.ttl_s <= 0 or self.max_entries <= 0:
            return
        self.entries.pop(quote.symbol, None)
        self.entries[quote.symbol] = (self.clock() + self.ttl_s, quote)
        while len(self.entries) > self.max_entries:
            self.entries.popitem(last=False)


class CachedProvider:
    """A provider that answers from the cache and asks the upstream only for the misses."""

    def __init__(self, upstream: QuoteProvider, cache: QuoteCache) -> None:
        self.upstream = upstream
        self.cache = cache
        self.source: Source = upstream.source

    async def fetch_many(self, symbols: Sequence[str]) -> list[QuoteData | None]:
        found = {s: self.cache.get(s) for s in symbols}
        missing = list(dict.fromkeys(s for s, q in found.items() if q is None))
        if missing:
            for symbol, quote in zip(missing, await self.upstream.fetch_many(missing), strict=True):
                if quote is not None:
                    self.cache.put(quote)
                    found[symbol] = quote
        return [found[s] for s in symbols]

    async def aclose(self) -> None:
        await self.upstream.aclose()
