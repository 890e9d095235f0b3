"""Live events of some channels, resumed after a cursor: replayed from the outbox, then live.

The subscriber is attached to the broker first; the worker has then delivered up to some cursor
M (its relay's position) and every later event reaches the subscriber's queue. The events in
(cursor, M] are read from the database, and live events up to M are dropped: no gap and no
duplicate at the switch, on any worker, since every worker reads the same outbox.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from typing import Any

import orjson

from app.realtime.outbox import Event, is_retained, last_cursor, latest_events, read_events
from app.resources import Resources
from schema.cursors import decode_event
from schema.errors import CursorExpired

REPLAY_PAGE = 500


async def _check(resources: Resources, start: int) -> int:
    """The cursor up to which this worker has delivered; refuse a cursor it cannot resume."""
    relay = resources.relay
    upto = await relay.position() if relay is not None else await last_cursor(resources.db)
    if await is_retained(resources.db, start):
        return max(start, upto)
    # Pruned, or never issued here: either way nothing can be replayed from it.
    hours = resources.settings.live_retention_h
    raise CursorExpired(
        f"after: events are kept for {hours:g} h and this cursor is older; "
        "subscribe again without `after` (and reload what you show)",
        retentionHours=hours,
    )


async def _replay(
    resources: Resources, start: int, upto: int, channels: Sequence[str], coalesce: bool
) -> AsyncIterator[Event]:
    if coalesce:
        # A coalescing field only owes the latest value per channel.
        for event in await latest_events(resources.db, start, upto, channels):
            yield event
        return
    after = start
    while after < upto:
        page = await read_events(resources.db, after, REPLAY_PAGE, channels, upto)
        for event in page:
            yield event
        if len(page) < REPLAY_PAGE:
            return
        after = page[-1].cursor


async def live_events(
    resources: Resources,
    channels: Sequence[str],
    after: str | None,
    queue_size: int,
    coalesce: bool,
    on_overflow: Callable[[], None] | None = None,
) -> AsyncGenerator[tuple[str, dict[str, Any]], None]:
    """(channel, decoded event) for `channels`; with `after`, first the events missed since."""
    start = None if after is None else decode_event("after", after)
    broker = resources.broker
    async with broker.subscribe(channels, queue_size, coalesce, on_overflow) as subscriber:
        seen = 0
        if start is None and resources.relay is not None:
            await resources.relay.position()  # this worker's first subscriber: start here
        if start is not None:
            seen = await _check(resources, start)
            async for event in _replay(resources, start, seen, channels, coalesce):
                yield event.channel, orjson.loads(event.payload)
        async for channel, payload in subscriber:
            decoded: dict[str, Any] = orjson.loads(payload)
            if seen and int(decoded.get("cursor", seen + 1)) <= seen:
                continue  # delivered by the replay
            yield channel, decoded
