"""UTC clock and hourly bucket arithmetic shared by the write and read paths."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

HOUR = timedelta(hours=1)


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Return `value` as an aware UTC datetime; naive values are taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def floor_hour(value: datetime) -> datetime:
    return as_utc(value).replace(minute=0, second=0, microsecond=0)


def floor_day(value: datetime) -> datetime:
    return as_utc(value).replace(hour=0, minute=0, second=0, microsecond=0)
