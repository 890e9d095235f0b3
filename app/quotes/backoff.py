"""How long to wait before a retry: exponential backoff with full jitter, or the server's word."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


@dataclass(frozen=True, slots=True)
class Backoff:
    base_s: float
    max_s: float
    retry_after_cap_s: float

    def delay(self, attempt: int, retry_after: str | None = None) -> float:
        """Seconds to wait after failed attempt number `attempt` (0 for the first call)."""
        hinted = parse_retry_after(retry_after) if retry_after is not None else None
        if hinted is not None:
            return min(hinted, self.retry_after_cap_s)
        # Full jitter (uniform in [0, capped exponential]) keeps retrying clients from
        # hitting the upstream in lock step.
        return random.uniform(0.0, min(self.max_s, self.base_s * 2**attempt))


def parse_retry_after(value: str, now: datetime | None = None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date); None if unreadable."""
    value = value.strip()
    if value.isascii() and value.isdigit():  # "²".isdigit() is True, int("²") fails
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
