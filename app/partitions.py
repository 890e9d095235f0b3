"""Time partitions of `mentions` on PostgreSQL: the grid, and the maintenance pass that keeps it.

The maintenance pass creates the partitions ahead of now (and those that rows waiting in the
DEFAULT partition belong to, moving the rows in), and drops the partitions that retention has
passed. It runs under a transaction-scoped advisory lock, so several instances running it at once
do the work once; it is idempotent, so running it again changes nothing.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db import Database

log = logging.getLogger("insitechart.partitions")

Interval = Literal["week", "month"]
PARENT = "mentions"
DEFAULT_PARTITION = "mentions_default"
# pg_try_advisory_xact_lock key of the maintenance pass (any fixed bigint the app owns).
LOCK_KEY = 7_259_020_001
_BOUND = re.compile(r"FROM \('([^']+)'\) TO \('([^']+)'\)")


@dataclass(frozen=True, slots=True, order=True)
class Span:
    """One partition's range of published_at: [start, end)."""

    start: datetime
    end: datetime

    @property
    def name(self) -> str:
        return f"{PARENT}_p{self.start:%Y%m%d}"

    def overlaps(self, other: Span) -> bool:
        return self.start < other.end and other.start < self.end


def period_start(t: datetime, interval: Interval) -> datetime:
    """The start of the UTC week (Monday) or month holding `t`, as PostgreSQL's date_trunc."""
    t = t.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if interval == "month":
        return t.replace(day=1)
    return t - timedelta(days=t.weekday())


def period(t: datetime, interval: Interval) -> Span:
    start = period_start(t, interval)
    if interval == "month":
        end = (start + timedelta(days=32)).replace(day=1)
    else:
        end = start + timedelta(days=7)
    return Span(start, end)


def ahead(now: datetime, interval: Interval, count: int) -> list[Span]:
    """The current period and `count` periods after it."""
    spans = [period(now, interval)]
    for _ in range(count):
        spans.append(period(spans[-1].end, interval))
    return spans


def parse_bound(bound: str) -> Span | None:
    """A partition bound as pg_get_expr prints it; None for the DEFAULT partition."""
    match = _BOUND.search(bound)
    if match is None:
        return None
    start, end = (datetime.fromisoformat(v).astimezone(UTC) for v in match.groups())
    return Span(start, end)


def create_sql(span: Span) -> str:
    return (
        f"CREATE TABLE {span.name} PARTITION OF {PARENT} "
        f"FOR VALUES FROM ('{span.start.isoformat()}') TO ('{span.end.isoformat()}')"
    )


@dataclass(slots=True)
class Report:
    """What one maintenance pass did."""

    partitioned: bool = True
    locked_out: bool = False
    created: list[str] = field(default_factory=list)
    moved_rows: int = 0
    dropped: list[str] = field(default_factory=list)
    deleted_default_rows: int = 0

    def line(self) -> str:
        if not self.partitioned:
            return (
                "mentions is not partitioned (SQLite, or migration 0003 not applied): nothing to do"
            )
        if self.locked_out:
            return "another instance holds the maintenance lock: skipped"
        return (
            f"created {len(self.created)} partition(s) {', '.join(self.created) or '-'}; "
            f"moved {self.moved_rows} row(s) out of {DEFAULT_PARTITION}; "
            f"dropped {len(self.dropped)} {', '.join(self.dropped) or '-'}; "
            f"deleted {self.deleted_default_rows} default row(s) past retention"
        )


async def is_partitioned(conn: AsyncConnection) -> bool:
    if conn.dialect.name != "postgresql":
        return False
    kind = await conn.scalar(
        text("SELECT relkind::text FROM pg_class WHERE oid = to_regclass(:t)"), {"t": PARENT}
    )
    return bool(kind == "p")


async def existing(conn: AsyncConnection) -> dict[str, Span | None]:
    """Every partition of mentions by name, with its range (None for DEFAULT)."""
    rows = await conn.execute(
        text(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = CAST(:t AS regclass)"
        ),
        {"t": PARENT},
    )
    return {name: parse_bound(bound) for name, bound in rows}


async def _default_periods(conn: AsyncConnection, interval: Interval) -> list[Span]:
    starts = await conn.scalars(
        text(
            f"SELECT DISTINCT date_trunc('{interval}', published_at AT TIME ZONE 'UTC') "
            f"FROM {DEFAULT_PARTITION}"
        )
    )
    return [period(s.replace(tzinfo=UTC), interval) for s in starts]


async def _create(conn: AsyncConnection, span: Span) -> int:
    """Create the partition of `span`, moving in the rows the DEFAULT partition holds for it."""
    where = "published_at >= :s AND published_at < :e"
    bounds = {"s": span.start, "e": span.end}
    waiting = await conn.scalar(
        text(f"SELECT EXISTS (SELECT 1 FROM {DEFAULT_PARTITION} WHERE {where})"), bounds
    )
    if not waiting:
        await conn.execute(text(create_sql(span)))
        return 0
    # PostgreSQL refuses a new partition whose range the DEFAULT partition holds rows of: build
    # it beside the table, move the rows, then attach it (which checks the default is clear).
    await conn.execute(
        text(f"CREATE TABLE {span.name} (LIKE {PARENT} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
    )
    moved = await conn.execute(
        text(
            f"WITH moved AS (DELETE FROM {DEFAULT_PARTITION} WHERE {where} RETURNING *) "
            f"INSERT INTO {span.name} SELECT * FROM moved"
        ),
        bounds,
    )
    await conn.execute(
        text(
            f"ALTER TABLE {PARENT} ATTACH PARTITION {span.name} "
            f"FOR VALUES FROM ('{span.start.isoformat()}') TO ('{span.end.isoformat()}')"
        )
    )
    return int(moved.rowcount or 0)


async def maintain_on(
    conn: AsyncConnection,
    now: datetime,
    interval: Interval,
    ahead_count: int,
    retention_days: int,
    lock_timeout_ms: int = 5000,
) -> Report:
    """One maintenance pass inside the caller's transaction (see the module docstring)."""
    report = Report()
    if not await is_partitioned(conn):
        report.partitioned = False
        return report
    if not await conn.scalar(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": LOCK_KEY}):
        report.locked_out = True
        return report
    # DDL on the parent waits for its readers; give up rather than queue every query behind us.
    await conn.execute(text(f"SET LOCAL lock_timeout = {int(lock_timeout_ms)}"))
    cutoff = now - timedelta(days=retention_days) if retention_days else None
    named = {name: span for name, span in (await existing(conn)).items() if span is not None}
    spans = list(named.values())
    wanted = ahead(now, interval, ahead_count) + await _default_periods(conn, interval)
    horizon = wanted[ahead_count].end  # a mention from years ahead stays in the default
    for span in sorted(set(wanted)):
        if span.end > horizon or (cutoff is not None and span.end <= cutoff):
            continue
        if any(span.overlaps(s) for s in spans):
            continue
        report.moved_rows += await _create(conn, span)
        report.created.append(span.name)
        spans = [*spans, span]
    if cutoff is not None:
        for name, span in sorted(named.items(), key=lambda item: item[1]):
            if span.end <= cutoff:
                await conn.execute(text(f"ALTER TABLE {PARENT} DETACH PARTITION {name}"))
                await conn.execute(text(f"DROP TABLE {name}"))
                report.dropped.append(name)
        deleted = await conn.execute(
            text(f"DELETE FROM {DEFAULT_PARTITION} WHERE published_at < :c"), {"c": cutoff}
        )
        report.deleted_default_rows = int(deleted.rowcount or 0)
    return report


async def maintain(
    db: Database, now: datetime, interval: Interval, ahead_count: int, retention_days: int
) -> Report:
    """One maintenance pass in its own transaction."""
    async with db.engine.begin() as conn:
        return await maintain_on(conn, now, interval, ahead_count, retention_days)
