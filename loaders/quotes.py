"""Market quotes by symbol: one provider batch per tick, however many stocks ask."""

from __future__ import annotations

from collections.abc import Sequence

from app.quotes import QuoteData
from loaders.base import Loader


class QuoteLoader(Loader[str, QuoteData | None]):
    """Keys are symbols; None where the provider could not answer.

    Quotes bypass the field cache: the provider keeps its own short TTL cache (QUOTES_CACHE_TTL_S)
    in front of the upstream, and a quote's freshness is not tied to our writes.
    """

    async def batch_load_fn(self, keys: list[str]) -> list[QuoteData | None]:
        return await self.load_batch(keys)

    async def load_batch(self, keys: Sequence[str]) -> list[QuoteData | None]:
        return await self.env.quotes.fetch_many(keys)

    def cache_part(self, key: str) -> str:
        return key
