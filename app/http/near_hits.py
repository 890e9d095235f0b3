"""Response-cache hits answered from the worker's memory, kept current by Redis (NearHits).

A hit in Redis costs a round trip: on a loaded two-core machine it is most of what a hit costs
(`python -m bench peers`: a hit reached 0.40-0.70 of a bare endpoint sending the same bytes, and
0.97 with the round trip taken out). So each worker keeps the entries it served lately, and
answers them again without Redis, for as long as Redis says nothing changed:

- **Freshness: Redis tells.** A connection of the worker's own (`InvalidationTracker`) turns on
  Redis's client tracking in broadcast mode for the tags' generation keys and the response
  entries' keys (`CLIENT TRACKING ON REDIRECT <itself> BCAST PREFIX ...`): every write of
  either, by anyone (an ingest's bump, an entry stored or deleted, FLUSHDB, an eviction), is
  pushed to it, and the entries concerned are dropped. A write of this worker's own drops them
  before the write returns (`Cache.on_bump`), so a caller reads its own writes; another worker's
  write reaches it as fast as Redis pushes (on one machine, well under a millisecond).
- **Nothing is served while Redis could not tell.** Until the tracking connection is subscribed,
  and from the moment it fails or stops answering its PING (every `heartbeat_s`), the worker
  keeps nothing and every look-up goes to Redis; on reconnecting it starts empty.
- **A look-up racing an invalidation keeps nothing.** Each invalidation moves `epoch` and is
  remembered for a while (the last RECENT ones); an entry read from Redis is not kept if one of
  those that came while it was on its way names it or one of its tags (or if they are too many
  to tell).
- **Expiry as in Redis.** An entry is answered while it has at least a second left (the rule the
  look-up script applies), by the worker's clock.
- **Budgets: a lease.** A hit still costs its caller HIT_COST points from the same Redis bucket,
  but the worker takes them a few at a time: each look-up in Redis tops the caller's lease up to
  `lease_points` (at most a hundredth of the bucket; what was left of it is refunded in the same
  take), and the hits that follow within a second spend the lease locally. A caller can never
  spend more than its bucket holds; at any moment a worker holds at most one lease per caller
  un-spent, which other requests of that caller cannot use meanwhile. The `currentlyAvailable`
  a hit reports is the bucket after the top-up plus what is left of the lease (the restore since
  the top-up shows at the next one).

Only a single Redis serves it: the script that looks an entry up and charges it is what fills
it (app/http/hit_lookup.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.http.entry import Entry, decode
from app.ratelimit import Decision, Rate, decide

log = logging.getLogger("insitechart.near_hits")

INVALIDATE_CHANNEL = "__redis__:invalidate"
LEASE_S = 1.0  # a lease is spent locally this long, then topped up with Redis's count
LEASE_SHARE = 100  # a lease holds at most this fraction (1/LEASE_SHARE) of a bucket's capacity
RECENT = 256  # invalidations remembered, to tell whether one raced a look-up
ALL = None  # an invalidation of everything (FLUSHDB, tracking lost)


@dataclass(slots=True)
class _Near:
    entry: Entry  # decoded once: a near hit copies none of it
    size: int  # the stored bytes
    tags: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TopUp:
    """A take from a caller's bucket on its way: up to `want` points, at least `least`, the
    lease's `rest` refunded by it. One that times out or is cancelled on the way may have run:
    the caller loses what it took and the rest (at most a lease), rather than spend them twice."""

    client: str
    want: float
    least: float
    rest: float


@dataclass(slots=True)
class _Lease:
    left: float  # points taken from the bucket and not spent yet
    topped_up: float  # time.monotonic() of the last top-up
    available: float  # what the bucket would hold had every hit been charged to it, at `stamp`
    stamp: float  # time.monotonic() of the last charge


class NearHits:
    """The entries this worker served lately, and its callers' leases of budget points."""

    def __init__(
        self,
        *,
        max_entries: int,
        max_bytes: int,
        lease_points: int,
        generation_prefix: str,
        entry_prefix: str,
        max_clients: int = 10_000,
    ) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.lease_points = lease_points
        self.generation_prefix = generation_prefix
        self.entry_prefix = entry_prefix
        self.max_clients = max_clients
        self.epoch = 0  # moved by every invalidation
        # (epoch, entry keys and tags) of the latest invalidations; ALL for everything.
        self._recent: deque[tuple[int, frozenset[str] | None]] = deque(maxlen=RECENT)
        self.live = False  # whether Redis is telling this worker what changes
        self._entries: OrderedDict[str, _Near] = OrderedDict()
        self._by_tag: dict[str, set[str]] = {}
        self._bytes = 0
        self._leases: OrderedDict[str, _Lease] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    @property
    def size_bytes(self) -> int:
        return self._bytes

    # --- entries ---

    def get(self, key: str) -> _Near | None:
        """The stored entry `key`, if kept, current and at least a second from expiry."""
        if not self.live:
            return None
        near = self._entries.get(key)
        if near is None:
            return None
        if near.entry[1] - time.time() < 1:  # its expiry
            self._forget(key)
            return None
        self._entries.move_to_end(key)
        return near

    def keep(self, key: str, raw: bytes, epoch: int) -> None:
        """Keep an entry Redis found current when the look-up left at `epoch`, unless an
        invalidation since names it or one of its tags."""
        if not self.live or len(raw) > self.max_bytes:
            return
        entry = decode(raw)
        if entry is None:
            return
        tags = tuple(tag for tag, _ in entry[0])
        if epoch != self.epoch and self._raced(epoch, key, tags):
            return
        self._forget(key)
        self._entries[key] = _Near(entry, len(raw), tags)
        for tag in tags:
            self._by_tag.setdefault(tag, set()).add(key)
        self._bytes += len(raw)
        while len(self._entries) > self.max_entries or self._bytes > self.max_bytes:
            self._forget(next(iter(self._entries)))

    def _forget(self, key: str) -> None:
        near = self._entries.pop(key, None)
        if near is None:
            return
        self._bytes -= near.size
        for tag in near.tags:
            keys = self._by_tag.get(tag)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._by_tag[tag]

    def _raced(self, epoch: int, key: str, tags: tuple[str, ...]) -> bool:
        """Whether an invalidation after `epoch` may concern the entry `key` with `tags`."""
        recent = self._recent
        if not recent or recent[0][0] > epoch + 1:
            return True  # some of those since are forgotten
        for moved, names in reversed(recent):
            if moved <= epoch:
                break
            if names is ALL or key in names or not names.isdisjoint(tags):
                return True
        return False

    def _moved(self, names: frozenset[str] | None) -> None:
        self.epoch += 1
        self._recent.append((self.epoch, names))

    def drop_tags(self, tags: Sequence[str], keys: Sequence[str] = ()) -> None:
        """Forget the entries depending on any of `tags` (their generations moved), and the
        entries `keys` (written)."""
        self._moved(frozenset((*tags, *keys)))
        for tag in tags:
            for key in list(self._by_tag.get(tag, ())):
                self._forget(key)
        for key in keys:
            self._forget(key)

    def invalidated(self, keys: Sequence[bytes] | None) -> None:
        """What Redis pushed: keys written (generations, entries), or None for all (FLUSHDB)."""
        if keys is None:
            self.clear()
            return
        generations, entries = self.generation_prefix, self.entry_prefix
        tags: list[str] = []
        written: list[str] = []
        for raw_key in keys:
            key = raw_key.decode(errors="replace")
            if key.startswith(generations):
                tags.append(key[len(generations) :])
            elif key.startswith(entries):
                written.append(key)
        self.drop_tags(tags, written)

    def clear(self) -> None:
        self._moved(ALL)
        self._entries.clear()
        self._by_tag.clear()
        self._bytes = 0

    # --- leases ---

    def charge(self, client: str, cost: int, rate: Rate) -> Decision | None:
        """Spend `cost` of the caller's lease, if it holds that much and is recent; else None
        (the lease is topped up in Redis first). The points reported available are what the
        bucket would hold had each hit been charged to it, refilled as Redis refills it."""
        lease = self._leases.get(client)
        now = time.monotonic()
        if lease is None or lease.left < cost or now - lease.topped_up > LEASE_S:
            return None
        lease.left -= cost
        refilled = lease.available + (now - lease.stamp) * rate.per_s
        lease.available = min(rate.capacity, refilled) - cost
        lease.stamp = now
        return Decision(True, lease.available, 0)

    def top_up(self, client: str, cost: int, rate: Rate) -> TopUp:
        """The take that tops the caller's lease up: up to a full lease, at least what this hit
        costs beyond the lease's rest. The rest moves into the take (refunded by it), so a
        concurrent top-up for the same caller does not refund it again."""
        lease = self._leases.get(client)
        rest = 0.0
        if lease is not None:
            rest, lease.left = lease.left, 0.0
        size = max(cost, min(self.lease_points, rate.capacity // LEASE_SHARE))
        return TopUp(client, size - rest, cost - rest, rest)

    def topped_up(
        self, top_up: TopUp, cost: int, rate: Rate, allowed: bool, available: float, took: float
    ) -> Decision:
        """Record what Redis did with `top_up` and charge this hit from the lease."""
        lease = self._leases.pop(top_up.client, None)
        left = lease.left if lease is not None else 0.0
        # Refused: nothing was taken nor refunded, and the rest is still the caller's.
        left += top_up.rest + took - cost if allowed else top_up.rest
        # Had each hit been charged to the bucket, it would hold what it holds and the lease's
        # rest, but never more than its capacity.
        if allowed:
            available = min(rate.capacity - cost, available + left)
        else:
            available = min(rate.capacity, available + left)
        now = time.monotonic()
        self._leases[top_up.client] = _Lease(left, now, available, now)
        if len(self._leases) > self.max_clients:
            self._leases.popitem(last=False)  # the least recent caller's rest is not refunded
        if allowed:
            return Decision(True, available, 0)
        return decide(False, available, cost, rate)

    def returned(self, top_up: TopUp) -> None:
        """`top_up` certainly took nothing (the entry was not there to charge): its rest goes
        back to the lease, which the next hit tops up again."""
        if not top_up.rest:
            return
        lease = self._leases.get(top_up.client)
        if lease is None:
            self._leases[top_up.client] = _Lease(top_up.rest, -LEASE_S, 0.0, time.monotonic())
        else:
            lease.left += top_up.rest


class InvalidationTracker:
    """The worker's tracking connection: Redis pushes every write of the tracked prefixes to it,
    and NearHits forgets what they change. `live` only while it is subscribed and answering."""

    def __init__(
        self, client: Redis, near: NearHits, heartbeat_s: float = 1.0, retry_s: float = 1.0
    ) -> None:
        self.client = client
        self.near = near
        self.heartbeat_s = heartbeat_s
        self.retry_s = retry_s
        self._task: asyncio.Task[None] | None = None
        self._quiet = False  # a loss is logged once until tracking is back
        self.connected = asyncio.Event()
        self._connection: Any = None  # while subscribed
        self._pings = 0
        self._caught_up: dict[bytes, asyncio.Future[None]] = {}

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._keep_tracking())

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
            except Exception:  # closing goes on: the worker's other resources still close
                log.exception("the near-hit tracker failed")
        self._down()

    async def caught_up(self, timeout_s: float = 5.0) -> None:
        """Return once every write Redis made before this call has reached the worker: a PING
        on the tracking connection is answered after the pushes queued before it."""
        if self._connection is None:
            raise RedisError("Redis does not track for this worker")
        self._pings += 1
        token = b"caught-up-%d" % self._pings
        answered = asyncio.get_running_loop().create_future()
        self._caught_up[token] = answered
        try:
            await self._connection.send_command("PING", token)
            await asyncio.wait_for(answered, timeout_s)
        finally:
            self._caught_up.pop(token, None)

    def _down(self) -> None:
        self.near.live = False
        self.near.clear()
        self.connected.clear()
        self._connection = None
        for waiting in self._caught_up.values():
            if not waiting.done():
                waiting.set_exception(RedisError("Redis tracking lost"))

    async def _keep_tracking(self) -> None:
        while True:
            try:
                await self._track()
            except (RedisError, OSError) as exc:  # `_track` has gone down already
                if not self._quiet:
                    log.warning("near hits off until Redis tracks again: %s", exc)
                    self._quiet = True
            await asyncio.sleep(self.retry_s)

    async def _track(self) -> None:
        pool = self.client.connection_pool
        kwargs = {**pool.connection_kwargs, "protocol": 2, "socket_timeout": None}
        connection: Any = pool.connection_class(**kwargs)
        near = self.near
        try:
            await connection.connect()
            await connection.send_command("CLIENT", "ID")
            own_id = await connection.read_response()
            await connection.send_command(
                "CLIENT", "TRACKING", "ON", "REDIRECT", own_id, "BCAST",
                "PREFIX", near.generation_prefix, "PREFIX", near.entry_prefix,
            )  # fmt: skip
            await connection.read_response()
            await connection.send_command("SUBSCRIBE", INVALIDATE_CHANNEL)
            await connection.read_response()
            near.clear()  # whatever was kept before this connection is not known to be current
            near.live = True
            self._connection = connection
            self.connected.set()
            self._quiet = False
            log.info("near hits on: Redis tracks the response cache's keys")
            waiting = False
            while True:
                message = await connection.read_response(timeout=self.heartbeat_s)
                if message is None:
                    if waiting:
                        raise RedisError(f"no answer to PING within {self.heartbeat_s} s")
                    await connection.send_command("PING")
                    waiting = True
                    continue
                waiting = False
                if not isinstance(message, list) or not message:
                    continue
                if len(message) == 3 and message[0] == b"message":
                    near.invalidated(message[2])
                elif message[0] == b"pong" and len(message) == 2:
                    answered = self._caught_up.get(message[1])
                    if answered is not None and not answered.done():
                        answered.set_result(None)
        finally:
            self._down()
            await connection.disconnect()
