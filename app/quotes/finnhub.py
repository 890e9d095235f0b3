"""Quotes from a Finnhub-compatible HTTP API: pooled, bounded, retried, and behind a breaker."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from app.breaker import Breaker
from app.quotes.backoff import Backoff
from app.quotes.model import QuoteData, Source

log = logging.getLogger("insitechart.quotes")

QUOTE_FIELDS = ("c", "d", "dp", "h", "l", "o", "pc", "t")


@dataclass(frozen=True, slots=True)
class FinnhubConfig:
    base_url: str
    token: str
    concurrency: int
    timeout_s: float
    retries: int
    backoff: Backoff
    batch_budget_s: float


class RetryableError(Exception):
    """An attempt failed in a way another attempt may not (timeout, 5xx, 429, dropped link)."""

    def __init__(self, reason: str, retry_after: str | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class Refused(Exception):
    """The breaker opened while this call waited for a slot; it is dropped, not counted."""


class FinalError(Exception):
    """An attempt failed in a way retrying cannot fix (4xx, a body that is not a quote)."""


def parse_quote(symbol: str, body: Any) -> QuoteData:
    if not isinstance(body, dict) or any(
        not isinstance(body.get(k), int | float) for k in QUOTE_FIELDS
    ):
        raise FinalError(f"not a quote: {str(body)[:200]}")
    if body["t"] == 0:  # Finnhub's answer for a symbol it does not know: all zeros
        raise FinalError(f"no quote for {symbol}")
    return QuoteData(
        symbol=symbol,
        price=float(body["c"]),
        change=float(body["d"]),
        change_percent=float(body["dp"]),
        open=float(body["o"]),
        high=float(body["h"]),
        low=float(body["l"]),
        previous_close=float(body["pc"]),
        as_of=datetime.fromtimestamp(body["t"], UTC),
        source="FINNHUB",
    )


class FinnhubProvider:
    """One shared connection pool per process; every batch bounded by a semaphore and a budget."""

    source: Source = "FINNHUB"

    def __init__(self, config: FinnhubConfig, breaker: Breaker) -> None:
        self.config = config
        self.breaker = breaker
        self.semaphore = asyncio.Semaphore(config.concurrency)
        self.client = httpx.AsyncClient(
            base_url=config.base_url,
            limits=httpx.Limits(
                max_connections=config.concurrency,
                max_keepalive_connections=config.concurrency,
            ),
            timeout=httpx.Timeout(config.timeout_s),
        )

    async def fetch_many(self, symbols: Sequence[str]) -> list[QuoteData | None]:
        """Fetch concurrently; whatever is not back within the batch budget counts as failed."""
        if not symbols:
            return []
        tasks = [asyncio.create_task(self.fetch(s)) for s in symbols]
        done, pending = await asyncio.wait(tasks, timeout=self.config.batch_budget_s)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)
            for _ in pending:  # an upstream too slow for the budget is failing
                self.breaker.record_failure()
            log.warning("quote batch budget spent: %d of %d unanswered", len(pending), len(tasks))
        return [t.result() if t in done else None for t in tasks]

    async def fetch(self, symbol: str) -> QuoteData | None:
        """One quote with retries; None when it failed or the breaker refused the call."""
        probe = self.breaker.state == "half-open"
        if not self.breaker.allow():
            return None
        try:
            return await self.fetch_allowed(symbol, probe)
        except asyncio.CancelledError:
            self.breaker.abandon()  # a cancelled probe must not keep the breaker half-open
            raise

    async def fetch_allowed(self, symbol: str, probe: bool) -> QuoteData | None:
        attempt = 0
        while True:
            try:
                quote = await self.attempt(symbol, probe)
            except Refused:
                return None
            except RetryableError as exc:
                if attempt >= self.config.retries:
                    self.failed(symbol, str(exc))
                    return None
                # Sleep outside the semaphore so waiting retries do not hold a slot.
                await asyncio.sleep(self.config.backoff.delay(attempt, exc.retry_after))
                attempt += 1
                continue
            except FinalError as exc:
                self.failed(symbol, str(exc))
                return None
            self.breaker.record_success()
            return quote

    def failed(self, symbol: str, reason: str) -> None:
        self.breaker.record_failure()
        log.warning("quote for %s failed: %s (breaker %s)", symbol, reason, self.breaker.state)

    async def attempt(self, symbol: str, probe: bool) -> QuoteData:
        params = {"symbol": symbol, "token": self.config.token}
        async with self.semaphore:
            # Calls queued behind the slots when the breaker opened must not go up anyway.
            if not probe and self.breaker.state != "closed":
                raise Refused
            try:
                # The client's timeout bounds each phase; this bounds the whole attempt.
                async with asyncio.timeout(self.config.timeout_s):
                    response = await self.client.get("/api/v1/quote", params=params)
            except (TimeoutError, httpx.TimeoutException):
                raise RetryableError("timed out") from None
            except httpx.TransportError as exc:
                raise RetryableError(f"transport error: {type(exc).__name__}") from None
        status = response.status_code
        if status == 429 or status >= 500:
            raise RetryableError(f"HTTP {status}", response.headers.get("retry-after"))
        if status != 200:
            raise FinalError(f"HTTP {status}")
        try:
            body = response.json()
        except ValueError:
            raise FinalError("response is not JSON") from None
        return parse_quote(symbol, body)

    async def aclose(self) -> None:
        await self.client.aclose()
