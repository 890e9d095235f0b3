"""The circuit breaker in front of a failing upstream (alone: tests/app/test_breaker.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from app.breaker import Breaker
from tests.quotes.helpers import finnhub_provider
from tests.quotes.upstream import Behaviour, Upstream, running_upstream


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def state(breaker: Breaker) -> str:
    return breaker.state


@pytest.fixture
async def upstream() -> AsyncIterator[Upstream]:
    async with running_upstream() as server:
        yield server


async def test_open_breaker_makes_no_upstream_call_until_the_cooldown(upstream: Upstream) -> None:
    upstream.behaviour = Behaviour(status=500, failures=1)
    clock = Clock()
    breaker = Breaker("quotes", failures=3, cooldown_s=30, clock=clock)
    provider = finnhub_provider(upstream, breaker, quotes_retries=0, quotes_breaker_failures=3)
    try:
        for symbol in ("A", "B", "C"):
            assert await provider.fetch_many([symbol]) == [None]
        assert state(breaker) == "open"
        assert await provider.fetch_many(["D", "E", "F"]) == [None, None, None]
        assert upstream.requests == 3

        upstream.behaviour = Behaviour()  # the upstream recovers
        clock.now += 30  # half-open: one probe of the batch goes up, and succeeds
        probe = await provider.fetch_many(["G", "H", "I"])
        assert sum(q is not None for q in probe) == 1
        assert upstream.requests == 4
        assert state(breaker) == "closed"

        assert all(q is not None for q in await provider.fetch_many(["J", "K"]))
        assert upstream.requests == 6
    finally:
        await provider.aclose()


async def test_a_probe_cut_by_the_batch_budget_reopens_the_breaker(upstream: Upstream) -> None:
    upstream.behaviour = Behaviour(hang=True)
    clock = Clock()
    breaker = Breaker("quotes", failures=1, cooldown_s=30, clock=clock)
    provider = finnhub_provider(upstream, breaker, quotes_retries=0, quotes_batch_budget_ms=100)
    try:
        assert await provider.fetch_many(["A"]) == [None]
        assert state(breaker) == "open"
        clock.now += 30
        assert await provider.fetch_many(["B"]) == [None]  # the probe hangs past the budget
        assert state(breaker) == "open" and not breaker.probing
        assert upstream.requests == 2
    finally:
        await provider.aclose()


async def test_calls_queued_when_the_breaker_opens_are_not_sent(upstream: Upstream) -> None:
    upstream.behaviour = Behaviour(status=500, failures=100, delay_s=0.01)
    provider = finnhub_provider(
        upstream, quotes_retries=0, quotes_concurrency=2, quotes_breaker_failures=5
    )
    try:
        quotes = await provider.fetch_many([f"S{i}" for i in range(20)])
    finally:
        await provider.aclose()
    assert quotes == [None] * 20
    # The fifth failure opens it; only the call sharing the two slots with it still goes up.
    assert 5 <= upstream.requests <= 6
