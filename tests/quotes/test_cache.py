"""The quote cache: hits make no upstream call; failures and expired quotes are fetched again."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from app.quotes.cache import CachedProvider, QuoteCache
from tests.clock import Clock
from tests.quotes.helpers import finnhub_provider
from tests.quotes.upstream import Behaviour, Upstream, running_upstream


@pytest.fixture
async def upstream() -> AsyncIterator[Upstream]:
    async with running_upstream() as server:
        yield server


async def test_cached_quotes_make_no_upstream_call(upstream: Upstream) -> None:
    clock = Clock()
    provider = CachedProvider(finnhub_provider(upstream), QuoteCache(60, 100, clock))
    try:
        first = await provider.fetch_many(["AAPL", "MSFT", "AAPL"])
        clock.now += 59
        again = await provider.fetch_many(["MSFT", "AAPL"])
        assert upstream.by_symbol == {"AAPL": 1, "MSFT": 1}
        assert again == [first[1], first[0]]
        clock.now += 1
        await provider.fetch_many(["AAPL"])
        assert upstream.by_symbol["AAPL"] == 2
    finally:
        await provider.aclose()


async def test_failed_quotes_are_not_cached(upstream: Upstream) -> None:
    upstream.behaviour = Behaviour(status=500, failures=1)
    provider = CachedProvider(
        finnhub_provider(upstream, quotes_retries=0), QuoteCache(60, 100, Clock())
    )
    try:
        assert await provider.fetch_many(["AAPL"]) == [None]
        [quote] = await provider.fetch_many(["AAPL"])
        assert quote is not None
        assert upstream.by_symbol["AAPL"] == 2
    finally:
        await provider.aclose()


async def test_cache_evicts_the_oldest_entry_past_its_bound(upstream: Upstream) -> None:
    provider = CachedProvider(finnhub_provider(upstream), QuoteCache(60, 2, Clock()))
    try:
        await provider.fetch_many(["A", "B", "C"])
        await provider.fetch_many(["B", "C"])
        assert upstream.requests == 3
        await provider.fetch_many(["A"])
        assert upstream.by_symbol["A"] == 2
    finally:
        await provider.aclose()
