"""The HTTP provider against a real local server: concurrency, pooling, retries, timeouts."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from app.quotes.finnhub import FinalError, parse_quote
from tests.quotes.helpers import finnhub_provider
from tests.quotes.upstream import Behaviour, Upstream, running_upstream

SYMBOLS = [f"S{i:03d}" for i in range(50)]


@pytest.fixture
async def upstream() -> AsyncIterator[Upstream]:
    async with running_upstream() as server:
        yield server


async def test_batch_of_50_runs_concurrently_up_to_the_limit(upstream: Upstream) -> None:
    upstream.behaviour = Behaviour(delay_s=0.2)
    provider = finnhub_provider(upstream, quotes_concurrency=10)
    try:
        quotes = await provider.fetch_many(SYMBOLS)
    finally:
        await provider.aclose()
    assert [q.symbol if q else None for q in quotes] == SYMBOLS
    assert all(q is not None and q.source == "FINNHUB" for q in quotes)
    assert upstream.requests == 50
    assert upstream.peak_in_flight == 10
    assert upstream.tokens == {"test-token"}


async def test_connection_pool_is_reused_across_calls_and_batches(upstream: Upstream) -> None:
    upstream.behaviour = Behaviour(delay_s=0.01)
    provider = finnhub_provider(upstream, quotes_concurrency=5)
    try:
        for _ in range(3):
            await provider.fetch_many(SYMBOLS[:20])
    finally:
        await provider.aclose()
    assert upstream.requests == 60
    assert 1 <= upstream.connections <= 5


async def test_server_errors_are_retried_until_a_success(upstream: Upstream) -> None:
    upstream.behaviour = Behaviour(status=503, failures=2)
    provider = finnhub_provider(upstream, quotes_retries=2)
    try:
        [quote] = await provider.fetch_many(["AAPL"])
    finally:
        await provider.aclose()
    assert quote is not None and quote.price > 0
    assert upstream.by_symbol["AAPL"] == 3


async def test_a_quote_fails_after_the_configured_retries(upstream: Upstream) -> None:
    upstream.behaviour = Behaviour(status=500, failures=100)
    provider = finnhub_provider(upstream, quotes_retries=2)
    try:
        assert await provider.fetch_many(["AAPL", "MSFT"]) == [None, None]
    finally:
        await provider.aclose()
    assert upstream.by_symbol == {"AAPL": 3, "MSFT": 3}


async def test_client_errors_are_not_retried(upstream: Upstream) -> None:
    upstream.behaviour = Behaviour(status=401, failures=100)
    provider = finnhub_provider(upstream, quotes_retries=2)
    try:
        assert await provider.fetch_many(["AAPL"]) == [None]
    finally:
        await provider.aclose()
    assert upstream.by_symbol["AAPL"] == 1


async def test_rate_limit_waits_for_retry_after(upstream: Upstream) -> None:
    upstream.behaviour = Behaviour(status=429, failures=1, retry_after="1")
    provider = finnhub_provider(upstream, quotes_retries=1, quotes_retry_after_cap_ms=5000)
    try:
        [quote] = await provider.fetch_many(["AAPL"])
    finally:
        await provider.aclose()
    assert quote is not None
    first, second = upstream.request_times
    # The backoff alone would wait at most 5 ms; the server asked for a second.
    assert second - first >= 0.95


async def test_retry_after_is_capped(upstream: Upstream) -> None:
    upstream.behaviour = Behaviour(status=429, failures=1, retry_after="3600")
    provider = finnhub_provider(upstream, quotes_retries=1, quotes_retry_after_cap_ms=200)
    try:
        [quote] = await provider.fetch_many(["AAPL"])
    finally:
        await provider.aclose()
    assert quote is not None
    first, second = upstream.request_times
    assert 0.19 <= second - first < 60


async def test_a_hung_upstream_costs_at_most_the_timeout(upstream: Upstream) -> None:
    upstream.behaviour = Behaviour(hang=True)
    provider = finnhub_provider(upstream, quotes_timeout_ms=200, quotes_retries=0)
    started = time.monotonic()
    try:
        assert await provider.fetch_many(["AAPL"]) == [None]
    finally:
        await provider.aclose()
    # The server never answers; only the 200 ms timeout can end the call.
    assert time.monotonic() - started < 10
    assert upstream.by_symbol["AAPL"] == 1


async def test_the_batch_budget_bounds_a_batch_of_retried_timeouts(upstream: Upstream) -> None:
    upstream.behaviour = Behaviour(hang=True, only=frozenset({"HUNG"}))
    provider = finnhub_provider(
        upstream, quotes_timeout_ms=5000, quotes_retries=3, quotes_batch_budget_ms=300
    )
    started = time.monotonic()
    try:
        quotes = await provider.fetch_many(["AAPL", "HUNG"])
    finally:
        await provider.aclose()
    assert quotes[0] is not None and quotes[1] is None
    # Without the budget the hung call would take 4 attempts of 5 s.
    assert time.monotonic() - started < 10


async def test_a_body_that_is_not_a_quote_fails_without_retry(upstream: Upstream) -> None:
    upstream.behaviour = Behaviour(status=200, failures=100)  # 200 with {"error": ...}
    provider = finnhub_provider(upstream, quotes_retries=2)
    try:
        assert await provider.fetch_many(["AAPL"]) == [None]
    finally:
        await provider.aclose()
    assert upstream.by_symbol["AAPL"] == 1


def test_finnhub_quote_fields_are_mapped_and_unknown_symbols_refused() -> None:
    body = {"c": 10.5, "d": 0.5, "dp": 5.0, "h": 11, "l": 9, "o": 10, "pc": 10, "t": 1_700_000_000}
    quote = parse_quote("AAPL", body)
    assert (quote.price, quote.change, quote.change_percent) == (10.5, 0.5, 5.0)
    assert (quote.high, quote.low, quote.open, quote.previous_close) == (11, 9, 10, 10)
    assert quote.as_of == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    with pytest.raises(FinalError, match="no quote for ZZZZ"):
        parse_quote("ZZZZ", dict.fromkeys(body, 0))
    with pytest.raises(FinalError, match="not a quote"):
        parse_quote("AAPL", {**body, "c": None})
