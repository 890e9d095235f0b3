"""Providers wired to a local upstream, and a provider that records the batches it is asked."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from app.breaker import Breaker
from app.config import Settings
from app.quotes import QuoteData, QuoteProvider, Source, breaker_for, finnhub_config
from app.quotes.finnhub import FinnhubProvider
from tests.quotes.upstream import Upstream

FAST = {"quotes_backoff_base_ms": 1, "quotes_backoff_max_ms": 5}


def finnhub_settings(upstream: Upstream, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "quotes_provider": "finnhub",
        "quotes_base_url": upstream.url,
        "quotes_token": "test-token",
        **FAST,
        **overrides,
    }
    return Settings(**values)


def finnhub_provider(
    upstream: Upstream, breaker: Breaker | None = None, **overrides: Any
) -> FinnhubProvider:
    settings = finnhub_settings(upstream, **overrides)
    return FinnhubProvider(finnhub_config(settings), breaker or breaker_for(settings))


class RecordingProvider:
    """Pass batches through to a real provider and remember their sizes."""

    def __init__(self, inner: QuoteProvider) -> None:
        self.inner = inner
        self.source: Source = inner.source
        self.batches: list[int] = []

    async def fetch_many(self, symbols: Sequence[str]) -> list[QuoteData | None]:
        self.batches.append(len(symbols))
        return await self.inner.fetch_many(symbols)

    async def aclose(self) -> None:
        await self.inner.aclose()
