"""The cache of one worker process: Redis when REDIS_URL is set, else a bounded in-process LRU."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

from app.breaker import Breaker
from app.cache.core import Cache, CacheConfig, Codec, OnRecord, Source, TypeStats
from app.cache.memory import MemoryBackend
from app.cache.redis_backend import RedisBackend
from app.config import Settings
from app.redis_shared import SharedRedis, connect
from app.store import StoredMention

log = logging.getLogger("insitechart.cache")

TRENDING_TAG = "trending"
RESPONSES_TAG = "responses"  # shared responses showing too many stocks to tag one by one


def stock_tag(stock_id: int) -> str:
    return f"stock:{stock_id}"


def build_cache(settings: Settings, shared: SharedRedis | None = None) -> Cache:
    """The worker's cache; with `shared`, it uses the worker's one Redis pool and breaker."""
    config = CacheConfig(
        namespace=settings.cache_namespace,
        ttl_overrides_s=dict(settings.cache_ttl_overrides_s),
        lease_ms=settings.cache_lease_ms,
        lease_wait_ms=settings.cache_lease_wait_ms,
        decoded_max_bytes=settings.cache_decoded_max_bytes,
    )
    if shared is not None:
        backend = RedisBackend(shared.client, shared.breaker, owner=False, shared=shared)
        return Cache(backend, config, shared=True)
    if settings.redis_url:
        client = connect(
            settings.redis_url,
            settings.cache_redis_timeout_ms,
            settings.cache_redis_max_connections,
            settings.redis_cluster,
        )
        breaker = Breaker(
            "redis cache",
            cooldown_s=settings.cache_breaker_cooldown_s,
            log=log,
            open_message=(
                "{name} unavailable ({error}); serving from the database for {cooldown_s:.1f} s"
            ),
            close_message="{name} is back; caching resumes",
        )
        return Cache(RedisBackend(client, breaker), config, shared=True)
    memory = MemoryBackend(settings.cache_memory_max_entries, settings.cache_memory_max_bytes)
    cache = Cache(memory, config, shared=False)
    memory.on_evict = cache.record_eviction
    return cache


async def cache_state(cache: Cache | None) -> str:
    """For readiness: "up" (Redis answers), "memory" (in-process), "off", or "down"."""
    if cache is None:
        return "off"
    if not cache.shared:
        return "memory"
    return "up" if await cache.backend.ping() else "down"


def invalidate_stored(cache: Cache) -> Callable[[Sequence[StoredMention]], Awaitable[None]]:
    """An after-write hook: new mentions make their stocks' values and trending stale."""

    async def hook(stored: Sequence[StoredMention]) -> None:
        await cache.bump([TRENDING_TAG, RESPONSES_TAG, *(stock_tag(m.stock_id) for m in stored)])

    return hook


__all__ = [
    "RESPONSES_TAG",
    "TRENDING_TAG",
    "Cache",
    "CacheConfig",
    "Codec",
    "MemoryBackend",
    "OnRecord",
    "RedisBackend",
    "Source",
    "TypeStats",
    "build_cache",
    "cache_state",
    "invalidate_stored",
    "stock_tag",
]
