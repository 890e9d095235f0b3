"""Retry delays: capped exponential with full jitter, or the server's Retry-After, capped."""

from __future__ import annotations

from datetime import UTC, datetime

from app.quotes.backoff import Backoff, parse_retry_after

BACKOFF = Backoff(base_s=0.1, max_s=1.0, retry_after_cap_s=5.0)


def test_backoff_grows_exponentially_up_to_the_cap() -> None:
    for attempt, ceiling in [(0, 0.1), (1, 0.2), (2, 0.4), (3, 0.8), (4, 1.0), (10, 1.0)]:
        delays = [BACKOFF.delay(attempt) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling / 2  # jittered over the whole range, not a constant


def test_retry_after_seconds_and_dates_are_honoured_and_capped() -> None:
    assert BACKOFF.delay(0, "2") == 2.0
    assert BACKOFF.delay(0, "120") == 5.0
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("Thu, 01 Jan 2026 12:00:03 GMT", now) == 3.0
    assert parse_retry_after("Thu, 01 Jan 2026 11:00:00 GMT", now) == 0.0


def test_unreadable_retry_after_falls_back_to_backoff() -> None:
    assert parse_retry_after("soon") is None
    assert 0 <= BACKOFF.delay(1, "soon") <= 0.2
