"""The outbox of live events: written in the ingest's transaction, read back in cursor order.

An event's cursor is its row id. Ids must commit in the order they are taken, or a reader that
has seen id 11 would skip id 10 committing just after: on PostgreSQL the insert takes a
transaction-scoped advisory lock first, held to the commit (one lock for the last few statements
of a batch, after its row locks, so it never takes part in a deadlock); SQLite serialises writers
already. Old events are pruned by id prefix, so an event that is still stored has every later
event stored too: a cursor whose row is gone is expired.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import Database
from app.models import LiveEvent
from app.realtime.broker import Message
from app.realtime.events import build_events
from app.store import StoredMention

# pg_advisory_xact_lock key: "live" in ASCII, so it is recognisable in pg_locks.
OUTBOX_LOCK = 0x6C697665


@dataclass(frozen=True, slots=True)
class Event:
    cursor: int
    channel: str
    payload: bytes  # the event JSON with its cursor as the first key

    @property
    def message(self) -> Message:
        return self.channel, self.payload


def with_cursor(cursor: int, payload: str | bytes) -> bytes:
    """The stored JSON object with `"cursor":"<id>"` inserted first, without re-encoding it."""
    raw = payload.encode() if isinstance(payload, str) else payload
    return b'{"cursor":"%d",' % cursor + raw[1:]


async def write_events(session: AsyncSession, stored: Sequence[StoredMention]) -> int:
    """Add the events of `stored` to the outbox in the caller's transaction; return how many."""
    messages = await build_events(session, stored)
    if not messages:
        return 0
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": OUTBOX_LOCK})
    rows = [{"channel": channel, "payload": payload.decode()} for channel, payload in messages]
    await session.execute(insert(LiveEvent), rows)
    return len(rows)


async def read_events(
    db: Database,
    after: int,
    limit: int,
    channels: Sequence[str] | None = None,
    upto: int | None = None,
) -> list[Event]:
    """Events after the cursor `after` (and up to `upto`), of `channels` when given, in order."""
    e = LiveEvent
    stmt = select(e.id, e.channel, e.payload).where(e.id > after).order_by(e.id).limit(limit)
    if channels is not None:
        stmt = stmt.where(e.channel.in_(channels))
    if upto is not None:
        stmt = stmt.where(e.id <= upto)
    async with db.sessionmaker() as session:
        rows = (await session.execute(stmt)).all()
    return [Event(r.id, r.channel, with_cursor(r.id, r.payload)) for r in rows]


async def latest_events(
    db: Database, after: int, upto: int, channels: Sequence[str]
) -> list[Event]:
    """The last event of each channel after `after` and up to `upto`, in cursor order."""
    e = LiveEvent
    last = (
        select(func.max(e.id))
        .where(e.channel.in_(channels), e.id > after, e.id <= upto)
        .group_by(e.channel)
    )
    stmt = select(e.id, e.channel, e.payload).where(e.id.in_(last)).order_by(e.id)
    async with db.sessionmaker() as session:
        rows = (await session.execute(stmt)).all()
    return [Event(r.id, r.channel, with_cursor(r.id, r.payload)) for r in rows]


async def last_cursor(db: Database) -> int:
    """The cursor of the newest committed event; 0 when there is none."""
    async with db.sessionmaker() as session:
        value = (await session.execute(select(func.max(LiveEvent.id)))).scalar_one()
    return int(value or 0)


async def is_retained(db: Database, cursor: int) -> bool:
    """Whether the event `cursor` is still stored, and with it every event after it."""
    async with db.sessionmaker() as session:
        found = await session.execute(select(LiveEvent.id).where(LiveEvent.id == cursor))
    return found.first() is not None


async def prune(db: Database, older_than: datetime) -> int:
    """Delete the events up to the newest one created before `older_than`; return how many."""
    e = LiveEvent
    async with db.sessionmaker.begin() as session:
        cutoff = (
            await session.execute(select(func.max(e.id)).where(e.created_at < older_than))
        ).scalar_one()
        if cutoff is None:
            return 0
        result = await session.execute(delete(e).where(e.id <= cutoff))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
