"""Publish/subscribe for live updates: in-process by default, Redis pub/sub across workers.

Each process holds ONE backend subscription per channel, however many local subscribers it has,
and fans every message out in-process. A local subscriber never blocks the fan-out: it owns a
bounded queue, or, when it coalesces, only the latest message per channel.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager, suppress
from typing import Any, Protocol

from redis.asyncio.cluster import ClusterPubSub

from app.redis_shared import SharedRedis, connect

log = logging.getLogger("insitechart.broker")

Message = tuple[str, bytes]


class SlowConsumer(Exception):
    """A subscriber fell further behind than its queue allows."""


class Subscriber:
    """One local consumer of some channels, fed by the broker's fan-out without ever blocking it."""

    def __init__(
        self,
        channels: Sequence[str],
        queue_size: int,
        coalesce: bool,
        on_overflow: Callable[[], None] | None = None,
    ) -> None:
        self.channels = tuple(dict.fromkeys(channels))
        self.queue_size = queue_size
        self.coalesce = coalesce
        self.on_overflow = on_overflow
        self.overflowed = False
        self.dropped = 0  # messages replaced by newer ones (coalescing)
        self.busy = False  # a message handed out by `get` is still being handled
        self._queue: deque[Message] = deque()
        self._latest: dict[str, bytes] = {}
        self._ready = asyncio.Event()

    def deliver(self, channel: str, payload: bytes) -> None:
        if self.overflowed:
            return
        if self.coalesce:
            # A burst becomes the latest value per channel, never a backlog.
            if channel in self._latest:
                self.dropped += 1
                del self._latest[channel]  # re-insert: deliver channels in order of last update
            self._latest[channel] = payload
        elif len(self._queue) >= self.queue_size:
            self.overflow()
            return
        else:
            self._queue.append((channel, payload))
        self._ready.set()

    def overflow(self) -> None:
        """Cut this subscriber off: drop what it holds, tell its owner, wake its reader."""
        if self.overflowed:
            return
        self.overflowed = True
        self._queue.clear()
        self._latest.clear()
        if self.on_overflow is not None:
            self.on_overflow()
        self._ready.set()

    @property
    def pending(self) -> int:
        return len(self._latest) if self.coalesce else len(self._queue)

    @property
    def idle(self) -> bool:
        """Nothing queued and nothing in hand: a message delivered around the queue keeps order."""
        return not (self.busy or self.overflowed or self._queue or self._latest)

    async def get(self) -> Message:
        """The next message; raise `SlowConsumer` once the queue has overflowed.

        The message counts as in hand (`busy`) until the consumer asks for the next one.
        """
        self.busy = False
        while True:
            if self.overflowed:
                raise SlowConsumer(f"more than {self.queue_size} events behind")
            if self.coalesce and self._latest:
                channel = next(iter(self._latest))
                self.busy = True
                return channel, self._latest.pop(channel)
            if self._queue:
                self.busy = True
                return self._queue.popleft()
            self._ready.clear()
            await self._ready.wait()

    def __aiter__(self) -> AsyncIterator[Message]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Message]:
        while True:
            yield await self.get()


class Backend(Protocol):
    async def publish(self, messages: Sequence[Message]) -> None: ...
    async def subscribe(self, channel: str) -> None: ...
    async def unsubscribe(self, channel: str) -> None: ...
    def is_confirmed(self, channel: str) -> bool: ...
    async def close(self) -> None: ...


class Broker:
    """Fan-out to local subscribers over one backend subscription per channel."""

    def __init__(self, backend_factory: Callable[[Broker], Backend], prefix: str = "") -> None:
        self.prefix = prefix
        self.subscribers: dict[str, set[Subscriber]] = {}
        self._lock = asyncio.Lock()
        self.backend = backend_factory(self)

    @property
    def channels(self) -> frozenset[str]:
        """Channels this process is subscribed to on the backend."""
        return frozenset(self.subscribers)

    def is_live(self, channel: str) -> bool:
        """Whether messages published on `channel` from now on reach this process."""
        return channel in self.subscribers and self.backend.is_confirmed(self.prefix + channel)

    async def publish(self, messages: Iterable[Message]) -> None:
        batch = [(self.prefix + channel, payload) for channel, payload in messages]
        if batch:
            await self.backend.publish(batch)

    def dispatch(self, channel: str, payload: bytes) -> None:
        """Hand a backend message to every local subscriber of its channel."""
        local = channel.removeprefix(self.prefix)
        for subscriber in tuple(self.subscribers.get(local, ())):
            subscriber.deliver(local, payload)

    @asynccontextmanager
    async def subscribe(
        self,
        channels: Sequence[str],
        queue_size: int,
        coalesce: bool = False,
        on_overflow: Callable[[], None] | None = None,
    ) -> AsyncIterator[Subscriber]:
        subscriber = Subscriber(channels, queue_size, coalesce, on_overflow)
        await self._attach(subscriber)
        try:
            yield subscriber
        finally:
            await asyncio.shield(self._detach(subscriber))

    async def _attach(self, subscriber: Subscriber) -> None:
        async with self._lock:
            for channel in subscriber.channels:
                local = self.subscribers.setdefault(channel, set())
                if not local:
                    await self.backend.subscribe(self.prefix + channel)
                local.add(subscriber)

    async def _detach(self, subscriber: Subscriber) -> None:
        async with self._lock:
            for channel in subscriber.channels:
                local = self.subscribers.get(channel)
                if local is None:
                    continue
                local.discard(subscriber)
                if not local:
                    del self.subscribers[channel]
                    await self.backend.unsubscribe(self.prefix + channel)

    async def close(self) -> None:
        await self.backend.close()


class InProcessBackend:
    """Delivery within this process only: enough for one worker, and the default."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker

    async def publish(self, messages: Sequence[Message]) -> None:
        for channel, payload in messages:
            self.broker.dispatch(channel, payload)

    async def subscribe(self, channel: str) -> None:
        return None

    async def unsubscribe(self, channel: str) -> None:
        return None

    def is_confirmed(self, channel: str) -> bool:
        return True

    async def close(self) -> None:
        return None


class RedisBackend:
    """Redis pub/sub: one connection per process for every channel, read by one task.

    On a Redis Cluster it uses sharded pub/sub (SPUBLISH, SSUBSCRIBE): a channel lives on the
    master that owns its hash slot, so messages cross neither the cluster bus nor other masters,
    and the client holds one connection per master that has channels of this process.

    Publishing goes through the worker's Redis breaker; while Redis is unreachable, events are
    delivered to this worker's subscribers only, and a new subscription is local until Redis
    answers again (the reader then subscribes it on Redis). Nothing here fails a subscriber.
    """

    def __init__(self, broker: Broker, shared: SharedRedis, owner: bool = True) -> None:
        self.broker = broker
        self.shared = shared
        self.owner = owner
        self.sharded = shared.cluster
        self.pubsub = shared.client.pubsub()
        self._reader: asyncio.Task[None] | None = None
        self._confirmed: dict[str, asyncio.Event] = {}
        self._pending: set[str] = set()  # subscribed locally, not yet on Redis
        self._failing = False

    def is_confirmed(self, channel: str) -> bool:
        event = self._confirmed.get(channel)
        return event is not None and event.is_set()

    async def publish(self, messages: Sequence[Message]) -> None:
        if self.sharded:
            await self._publish_sharded(messages)
            return

        async def op() -> bool:
            async with self.shared.client.pipeline(transaction=False) as pipe:
                for channel, payload in messages:
                    pipe.publish(channel, payload)
                await pipe.execute()
            return True

        if not await self.shared.call(op, False):
            for channel, payload in messages:
                self.broker.dispatch(channel, payload)

    async def _publish_sharded(self, messages: Sequence[Message]) -> None:
        """One SPUBLISH per message, in parallel: with a master down, the messages its peers took
        are delivered through them and only the others locally, each message exactly once."""

        async def spublish(channel: str, payload: bytes) -> bool:
            async def op() -> bool:
                await self.shared.client.spublish(channel, payload)
                return True

            return await self.shared.call(op, False)

        sent = await asyncio.gather(*(spublish(c, p) for c, p in messages))
        for (channel, payload), ok in zip(messages, sent, strict=True):
            if not ok:
                self.broker.dispatch(channel, payload)

    async def subscribe(self, channel: str) -> None:
        self._confirmed[channel] = asyncio.Event()
        if not await self.shared.call(lambda: self._subscribe(channel), False):
            self._pending.add(channel)
        if self._reader is None:
            self._reader = asyncio.create_task(self._read(), name="broker-redis-reader")

    async def unsubscribe(self, channel: str) -> None:
        self._confirmed.pop(channel, None)
        if channel in self._pending:
            self._pending.discard(channel)  # never subscribed on Redis
            return
        if self.sharded:
            await self.shared.call(lambda: self.pubsub.sunsubscribe(channel), None)
            return
        await self.shared.call(lambda: self.pubsub.unsubscribe(channel), None)

    async def _subscribe(self, *channels: str) -> bool:
        if self.sharded:
            await self.pubsub.ssubscribe(*channels)
        else:
            await self.pubsub.subscribe(*channels)
        return True

    async def _resubscribe(self) -> None:
        pending = sorted(self._pending)
        if await self.shared.call(lambda: self._subscribe(*pending), False):
            self._pending.difference_update(pending)

    async def _read(self) -> None:
        while True:
            if self._pending:
                await self._resubscribe()
            if not self._listening:
                await asyncio.sleep(0.5)  # nothing subscribed on Redis yet
                continue
            try:
                message = await self._next_message()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not self._failing:
                    log.warning("redis pub/sub read failed (%s); retrying", type(exc).__name__)
                self._failing = True
                await asyncio.sleep(0.5)
                continue
            if self._failing:
                log.warning("redis pub/sub reading again")
                self._failing = False
            if message is not None:
                self._handle(message)

    @property
    def _listening(self) -> bool:
        if self.sharded:
            return bool(self.pubsub.shard_channels)
        return self.pubsub.connection is not None

    async def _next_message(self) -> dict[str, Any] | None:
        if isinstance(self.pubsub, ClusterPubSub):
            message = await self.pubsub.get_sharded_message(timeout=1.0)
        else:
            message = await self.pubsub.get_message(timeout=1.0)
        return dict(message) if message is not None else None

    def _handle(self, message: dict[str, Any]) -> None:
        channel = message["channel"].decode()
        if message["type"] in ("subscribe", "ssubscribe"):
            event = self._confirmed.get(channel)
            if event is not None:
                event.set()
        elif message["type"] in ("message", "smessage"):
            self.broker.dispatch(channel, message["data"])

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with suppress(asyncio.CancelledError):
                await self._reader
        await self.pubsub.aclose()
        if self.owner:
            await self.shared.close()


def create_broker(redis_url: str | None, prefix: str, shared: SharedRedis | None = None) -> Broker:
    """In-process without Redis; else Redis pub/sub, on the worker's shared Redis when given."""
    if shared is not None:
        return Broker(lambda broker: RedisBackend(broker, shared, owner=False), prefix=prefix)
    if redis_url is None:
        return Broker(InProcessBackend)
    # Its own bounded client (tests, tools); a worker passes its shared one.
    own = SharedRedis.of(connect(redis_url, timeout_ms=1000, max_connections=8))
    return Broker(lambda broker: RedisBackend(broker, own), prefix=prefix)
