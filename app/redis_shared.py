"""The worker's one Redis client and one breaker, shared by every Redis use.

Field cache, response cache, persisted queries, budgets and the broker take their connections from
one bounded pool (on a Redis Cluster, one per node), and fail fast through one breaker: calls time
out after CACHE_REDIS_TIMEOUT_MS, the first failure opens the circuit for CACHE_BREAKER_COOLDOWN_S,
during which nothing waits on Redis (each use has its fallback), then one call probes it. One log
line when the circuit opens, one when it closes, whatever the traffic.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeAlias, TypeVar

import redis.asyncio as redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import MaxConnectionsError, RedisClusterException, RedisError

from app.breaker import Breaker
from app.config import Settings
from app.redis_pipe import RedisPipe

log = logging.getLogger("insitechart.redis")

T = TypeVar("T")
# The cluster client's own errors (no node reachable, a slot nobody serves) are not RedisErrors.
TROUBLE = (RedisError, RedisClusterException, OSError, TimeoutError)
Client: TypeAlias = redis.Redis | RedisCluster


def connect(url: str, timeout_ms: int, max_connections: int, cluster: bool = False) -> Client:
    """A client that fails fast: a timeout of its own and no retries (the breaker decides).

    The pool is bounded and blocking, so a burst of requests shares connections instead of opening
    one each (a hundred simultaneous connects time out on a busy host and open the breaker).
    """
    timeout_s = timeout_ms / 1000
    if cluster:
        return connect_cluster(url, timeout_s, max_connections)
    pool = redis.BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        # Waiting for a free connection is not Redis trouble, only a busy worker: a longer wait
        # keeps a loaded event loop from opening the circuit for nothing.
        timeout=max(5 * timeout_s, 0.25),
        socket_timeout=timeout_s,
        socket_connect_timeout=max(timeout_s, 0.5),
        retry=Retry(NoBackoff(), 0),
        health_check_interval=0,
    )
    return redis.Redis.from_pool(pool)


def connect_cluster(url: str, timeout_s: float, max_connections: int) -> RedisCluster:
    """A Redis Cluster client from one node's URL: it learns the others and their slots.

    `max_connections` bounds each node's pool. Without full coverage (a master down, no replica
    to replace it), the slots still served keep working; the others fail fast into the breaker.
    """
    return RedisCluster.from_url(
        url,
        max_connections=max_connections,
        socket_timeout=timeout_s,
        socket_connect_timeout=max(timeout_s, 0.5),
        retry=Retry(NoBackoff(), 0),
        require_full_coverage=False,
        health_check_interval=0,
    )


def redis_breaker(cooldown_s: float) -> Breaker:
    # The error's type only: its text names Redis's host and port.
    return Breaker(
        "redis",
        cooldown_s=cooldown_s,
        log=log,
        open_message="{name} unavailable ({error_type}); degraded for {cooldown_s:.1f} s: "
        "reads from the database, budgets in-process, live events local to this worker",
        close_message="{name} is back; caching, shared budgets and pub/sub resume",
    )


class Script:
    """A Lua script called as redis-py's `register_script` result is, `await script(keys=, args=)`,
    on the worker's pipe when it has one (app/redis_pipe.py), else on redis-py."""

    def __init__(self, shared: SharedRedis, text: str) -> None:
        self.pipe = shared.pipe
        self.text = text
        self._redis_py: Any = None if self.pipe is not None else shared.client.register_script(text)

    async def __call__(self, keys: Sequence[Any], args: Sequence[Any]) -> Any:
        if self.pipe is not None:
            return await self.pipe.script(self.text, keys, args)
        return await self._redis_py(keys=keys, args=args)


class SharedRedis:
    def __init__(self, client: Client, breaker: Breaker, pipe: RedisPipe | None = None) -> None:
        self.client = client
        self.breaker = breaker
        # The hottest commands (a hit's script, a budget charge, a field-cache MGET) go through
        # one pipelined connection when the URL allows it; the rest through redis-py's pool.
        self.pipe = pipe

    def script(self, text: str) -> Script:
        return Script(self, text)

    async def mget(self, keys: Sequence[str]) -> list[bytes | None]:
        """MGET on the pipe, or redis-py (a cluster's slots split it: `mget_nonatomic`)."""
        if self.pipe is not None:
            values: list[bytes | None] = await self.pipe.execute(b"MGET", *keys)
            return values
        if isinstance(self.client, RedisCluster):
            found = await self.client.mget_nonatomic(list(keys))
        else:
            found = await self.client.mget(list(keys))
        return [v.encode() if isinstance(v, str) else v for v in found]

    @property
    def cluster(self) -> bool:
        """Whether the client is a Redis Cluster's (multi-key commands split per hash slot)."""
        return isinstance(self.client, RedisCluster)

    @classmethod
    def open(cls, settings: Settings) -> SharedRedis:
        if settings.redis_url is None:
            raise ValueError("REDIS_URL is not set")
        client = connect(
            settings.redis_url,
            settings.cache_redis_timeout_ms,
            settings.cache_redis_max_connections,
            settings.redis_cluster,
        )
        timeout_s = settings.cache_redis_timeout_ms / 1000
        pipe = (
            None
            if settings.redis_cluster or not settings.redis_pipe
            else RedisPipe.for_url(settings.redis_url, timeout_s, max(timeout_s, 0.5))
        )
        return cls(client, redis_breaker(settings.cache_breaker_cooldown_s), pipe)

    @classmethod
    def of(cls, client: Client, cooldown_s: float = 5.0) -> SharedRedis:
        """Wrap a client made elsewhere (a test, a benchmark) with a breaker of its own."""
        return cls(client, redis_breaker(cooldown_s))

    async def call(self, op: Callable[[], Awaitable[T]], default: T) -> T:
        """`op()` through the breaker; `default` when the circuit is open or the call fails."""
        if not self.breaker.allow():
            return default
        try:
            result = await op()
        except MaxConnectionsError:
            # A cluster node's pool is full: this worker is busy, Redis is not in trouble.
            self.breaker.abandon()
            return default
        except TROUBLE as exc:
            self.breaker.record_failure(exc)
            return default
        except BaseException:
            self.breaker.abandon()  # a cancelled probe must not leave the circuit stuck open
            raise
        self.breaker.record_success()
        return result

    @property
    def state(self) -> str:
        """ "up", or "down" while the circuit is open (requests are served without Redis)."""
        return "down" if self.breaker.is_open else "up"

    async def ping(self) -> bool:
        """Ask Redis directly (not through the breaker), and close the circuit if it answers."""
        try:
            answered = bool(await self.client.ping())
        except TROUBLE:
            return False
        if answered and self.breaker.is_open:
            self.breaker.record_success()
        return answered

    async def close(self) -> None:
        if self.pipe is not None:
            await self.pipe.close()
        await self.client.aclose()
