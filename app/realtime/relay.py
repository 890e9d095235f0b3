"""Each worker reads the outbox tail and delivers its events to its own subscribers, in order.

Why every worker reads, instead of one relay publishing the events on Redis: pub/sub delivers at
most once, so a worker whose Redis connection blinks, or a relay that dies between publishing and
recording it, leaves a gap nobody can see. Reading committed rows in cursor order cannot skip one,
and it makes a resume exact: a subscriber that joins when this worker has delivered up to cursor
M gets (its cursor, M] from the database and everything after M live. The cost is one indexed
read per wake-up per worker (a few ms, a batch of events at a time); Redis only carries the
wake-up, so that the other workers read at once instead of at their next poll. Without Redis, or
while it is down, a worker wakes on its own ingests and polls every LIVE_POLL_INTERVAL_MS. A
worker without live subscribers reads nothing; its first subscriber fixes where it starts.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from contextlib import suppress
from datetime import timedelta

from app.config import Settings
from app.db import Database
from app.monitoring.sql import background
from app.realtime.broker import Broker
from app.realtime.outbox import last_cursor, prune, read_events
from app.store import StoredMention
from app.timeutil import utcnow

log = logging.getLogger("insitechart.relay")

WAKE_CHANNEL = "live:wake"
BATCH = 500


class Relay:
    """The outbox reader of one worker: `upto` is the cursor of the last event it delivered."""

    def __init__(self, settings: Settings, db: Database, broker: Broker) -> None:
        self.settings = settings
        self.db = db
        self.broker = broker
        self.upto: int | None = None  # None until the first read: then the tail, not history
        self.delivered = 0
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._failing = False
        self._pruned_at = 0.0
        self._closed = False

    def start(self) -> None:
        self._pruned_at = asyncio.get_running_loop().time()
        self._tasks = [asyncio.create_task(self._read_forever(), name="live-relay")]

    def wake(self) -> None:
        self._wake.set()

    async def announce(self, stored: Sequence[StoredMention]) -> None:
        """After an ingest committed: read at once here, and wake the other workers."""
        self.wake()
        await self.broker.publish([(WAKE_CHANNEL, b"")])

    async def position(self) -> int:
        """The cursor this worker has delivered up to, reading the tail first if it never has."""
        if self._tasks and len(self._tasks) == 1:
            # Listen for other workers' wake-ups from the first subscriber on: a worker nobody
            # subscribes to needs none, and holds no Redis subscription for them.
            self._tasks.append(asyncio.create_task(self._listen(), name="live-relay-wake"))
        if self.upto is None:
            self.upto = await last_cursor(self.db)
        return self.upto

    async def catch_up(self) -> int:
        """Deliver every committed event after `upto` to local subscribers; return how many."""
        upto = await self.position()
        count = 0
        while True:
            events = await read_events(self.db, upto, BATCH)
            for event in events:
                if event.cursor <= (self.upto or 0):
                    continue  # a concurrent catch-up delivered it already
                self.broker.dispatch(self.broker.prefix + event.channel, event.payload)
                self.upto = upto = event.cursor
                count += 1
            if len(events) < BATCH:
                self.delivered += count
                return count
            await asyncio.sleep(0)  # a long backlog must not hold the loop

    async def _read_forever(self) -> None:
        poll_s = self.settings.live_poll_interval_ms / 1000
        while not self._closed:
            self._wake.clear()
            try:
                if self._subscribed():
                    await self.catch_up()
                else:
                    self.upto = None  # a worker nobody subscribes to reads nothing
                with background("live relay"):
                    await self._prune()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # Nothing is lost: `upto` stays, and the next read starts from it.
                if not self._failing:
                    log.warning("live relay: reading the outbox failed (%s)", type(exc).__name__)
                self._failing = True
            else:
                if self._failing:
                    log.warning("live relay: reading the outbox again")
                self._failing = False
            with suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), poll_s)

    def _subscribed(self) -> bool:
        return any(channel != WAKE_CHANNEL for channel in self.broker.subscribers)

    async def _listen(self) -> None:
        async with self.broker.subscribe([WAKE_CHANNEL], queue_size=1, coalesce=True) as wakes:
            async for _ in wakes:
                self.wake()

    async def _prune(self) -> None:
        now = asyncio.get_running_loop().time()
        if now - self._pruned_at < self.settings.live_prune_interval_s:
            return
        self._pruned_at = now
        cutoff = utcnow() - timedelta(hours=self.settings.live_retention_h)
        pruned = await prune(self.db, cutoff)
        if pruned:
            log.info("live relay: pruned %d events older than %s", pruned, cutoff.isoformat())

    async def close(self) -> None:
        # Python 3.11's wait_for loses a cancel that lands as the wake-up fires: the flag ends
        # the loop then.
        self._closed = True
        self._wake.set()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with suppress(asyncio.CancelledError):
                await task
        self._tasks = []
