"""Market quotes by symbol: one provider batch per tick, however many stocks ask."""

from __future__ import annotations

from collections.abc import Sequence

from app.quotes import QuoteData
from loaders.base import Loader


class QuoteLoader(Loader[str, QuoteData | None]):
    """Keys are symbols; None where the provider could not answer."""

    async def load_batch(self, keys: Sequence[str]) -> list[QuoteData | None]:
        return await self.env.quotes.fetch_many(keys)
