"""The long-lived resources of one worker process, opened and closed by the app's lifespan."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from redis.asyncio import Redis

from app.apikeys import KeyCache
from app.cache import Cache, build_cache, invalidate_stored
from app.config import Settings
from app.db import Database, create_database
from app.dbfaults import LogLimiter
from app.http.entry import entries_prefix
from app.http.near_hits import InvalidationTracker, NearHits
from app.monitoring.monitor import Monitor
from app.quotes import QuoteProvider, SimulatedProvider, open_provider
from app.ratelimit import Buckets, MemoryBuckets, open_buckets
from app.realtime.broker import Broker, create_broker
from app.realtime.relay import Relay
from app.redis_shared import SharedRedis
from app.replicas import ReplicaSet
from app.store import StoredMention

log = logging.getLogger("insitechart.resources")
HOOK_LOG = LogLimiter()

AfterWrite = Callable[[Sequence[StoredMention]], Awaitable[None]]
# Called after a transaction that stored new mentions has committed (cache invalidation, events).


@dataclass(slots=True)
class Resources:
    settings: Settings
    db: Database
    after_write: list[AfterWrite] = field(default_factory=list)
    quotes: QuoteProvider = field(default_factory=SimulatedProvider)
    cache: Cache | None = None
    buckets: Buckets = field(default_factory=MemoryBuckets)
    broker: Broker = field(default_factory=lambda: create_broker(None, ""))
    monitor: Monitor | None = None
    redis: SharedRedis | None = None  # the worker's one Redis pool and breaker, when configured
    # The read replicas (DATABASE_REPLICA_URLS) and their health; None reads the primary only.
    replicas: ReplicaSet | None = None
    relay: Relay | None = None  # reads the outbox and delivers its events to local subscribers
    keys: KeyCache = field(default_factory=lambda: KeyCache(0.0))  # API keys recently found active
    # Response-cache entries answered without Redis while it tracks them (app/http/near_hits.py).
    near: NearHits | None = None
    tracker: InvalidationTracker | None = None

    @classmethod
    def open(cls, settings: Settings) -> Resources:
        db = create_database(settings)
        monitor = Monitor.open(settings, db)
        redis = SharedRedis.open(settings) if settings.redis_url else None
        resources = cls(
            settings=settings,
            db=db,
            quotes=open_provider(settings),
            buckets=open_buckets(settings, redis),
            broker=create_broker(settings.redis_url, settings.realtime_channel_prefix, redis),
            monitor=monitor,
            redis=redis,
            keys=KeyCache(settings.api_key_cache_s),
        )
        if settings.database_replica_urls:
            resources.replicas = ReplicaSet.open(settings, db)
            # First: once the write is committed, this process reads it from the primary.
            resources.after_write.append(resources.replicas.wrote)
            monitor.watch_replicas(
                [r.db for r in resources.replicas.replicas], resources.replicas.reader
            )
        if settings.cache_enabled:
            resources.cache = build_cache(settings, redis)
            resources.after_write.append(invalidate_stored(resources.cache))
            resources.cache.on_record.append(monitor.cache_event)
            resources.near = open_near_hits(settings, redis, resources.cache)
        resources.relay = Relay(settings, db, resources.broker)
        resources.after_write.append(resources.relay.announce)
        return resources

    def reader(self) -> Database:
        """Where a request's loaders read: a healthy replica, else the primary."""
        return self.replicas.reader() if self.replicas is not None else self.db

    async def mentions_stored(self, stored: Sequence[StoredMention]) -> None:
        """Run the after-write hooks for committed mentions; a failing hook is logged."""
        if not stored:
            return
        for hook in self.after_write:
            try:
                await hook(stored)
            except Exception:
                # The write is committed; a hook failing on every ingest must not flood the log.
                if HOOK_LOG.allow():
                    log.exception("after-write hook %r failed", hook)

    def start(self) -> None:
        """Start what runs beside requests."""
        if self.near is not None and self.redis is not None:
            client = self.redis.client
            if isinstance(client, Redis):
                self.tracker = InvalidationTracker(client, self.near)
                self.tracker.start()

    async def close(self) -> None:
        if self.tracker is not None:
            await self.tracker.close()
        await self.quotes.aclose()
        await self.buckets.close()
        if self.cache is not None:
            await self.cache.close()
        if self.monitor is not None:
            await self.monitor.close()
        if self.relay is not None:
            await self.relay.close()
        await self.broker.close()
        if self.redis is not None:
            await self.redis.close()
        if self.replicas is not None:
            await self.replicas.close()
        await self.db.dispose()


def open_near_hits(settings: Settings, redis: SharedRedis | None, cache: Cache) -> NearHits | None:
    """Near hits where they can be kept current: one Redis (not a cluster) holds the cache."""
    if (
        not settings.cache_response_enabled
        or settings.cache_response_near_entries == 0
        or redis is None
        or redis.cluster
        or not cache.shared
    ):
        return None
    near = NearHits(
        max_entries=settings.cache_response_near_entries,
        max_bytes=settings.cache_response_near_max_bytes,
        lease_points=settings.cache_response_hit_lease,
        generation_prefix=cache.generation_key(""),
        entry_prefix=entries_prefix(settings.cache_namespace),
    )
    cache.on_bump.append(near.drop_tags)
    return near
