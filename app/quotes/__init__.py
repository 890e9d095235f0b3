"""Market quotes: providers behind one interface, built from settings."""

from __future__ import annotations

from app.breaker import Breaker
from app.config import Settings
from app.quotes.backoff import Backoff
from app.quotes.cache import CachedProvider, QuoteCache
from app.quotes.finnhub import FinnhubConfig, FinnhubProvider
from app.quotes.model import QuoteData, QuoteProvider, Source
from app.quotes.simulated import SimulatedProvider


def open_provider(settings: Settings) -> QuoteProvider:
    """The provider chosen in settings, with the quote cache in front."""
    upstream: QuoteProvider
    if settings.quotes_provider == "finnhub":
        upstream = FinnhubProvider(finnhub_config(settings), breaker_for(settings))
    else:
        upstream = SimulatedProvider()
    cache = QuoteCache(settings.quotes_cache_ttl_s, settings.quotes_cache_max_entries)
    return CachedProvider(upstream, cache)


def finnhub_config(settings: Settings) -> FinnhubConfig:
    token = settings.quotes_token.get_secret_value() if settings.quotes_token else ""
    return FinnhubConfig(
        base_url=settings.quotes_base_url,
        token=token,
        concurrency=settings.quotes_concurrency,
        timeout_s=settings.quotes_timeout_ms / 1000,
        retries=settings.quotes_retries,
        backoff=Backoff(
            base_s=settings.quotes_backoff_base_ms / 1000,
            max_s=settings.quotes_backoff_max_ms / 1000,
            retry_after_cap_s=settings.quotes_retry_after_cap_ms / 1000,
        ),
        batch_budget_s=settings.quotes_batch_budget_ms / 1000,
    )


def breaker_for(settings: Settings) -> Breaker:
    return Breaker(
        "quotes upstream",
        failures=settings.quotes_breaker_failures,
        cooldown_s=settings.quotes_breaker_cooldown_s,
    )


__all__ = [
    "CachedProvider",
    "FinnhubProvider",
    "QuoteData",
    "QuoteProvider",
    "SimulatedProvider",
    "Source",
    "breaker_for",
    "finnhub_config",
    "open_provider",
]
