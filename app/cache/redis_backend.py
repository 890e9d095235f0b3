"""The Redis backend: one MGET per read batch, one pipeline per write batch, behind a breaker."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from app.breaker import Breaker

T = TypeVar("T")
TROUBLE = (RedisError, OSError, TimeoutError)
# Backend.get_current on the server: the entry, checked against its tags' generations.
CURRENT = """
local gen = tonumber(redis.call('GET', ARGV[1] .. ARGV[2]) or '0')
local raw = redis.call('GET', KEYS[1])
if not raw then return {false, gen} end
local nl = string.find(raw, '\\n', 1, true)
if not nl then return {false, gen} end
local ok, head = pcall(cjson.decode, string.sub(raw, 1, nl - 1))
if not ok or type(head) ~= 'table' or type(head[1]) ~= 'table' then return {false, gen} end
for _, pair in ipairs(head[1]) do
  if type(pair) ~= 'table' or type(pair[1]) ~= 'string' then return {false, gen} end
  local current = tonumber(redis.call('GET', ARGV[1] .. pair[1]) or '0')
  if current ~= pair[2] then return {false, gen} end
end
return {raw, gen}
"""


def connect(url: str, timeout_ms: int, max_connections: int) -> redis.Redis:
    """A client that fails fast: a timeout of its own and no retries (the breaker decides).

    The pool is bounded and blocking, so a burst of requests shares connections instead of opening
    one each (a hundred simultaneous connects time out on a busy host and open the breaker).
    """
    timeout_s = timeout_ms / 1000
    pool = redis.BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=max(timeout_s, 1.0),
        socket_timeout=timeout_s,
        socket_connect_timeout=max(timeout_s, 0.5),
        retry=Retry(NoBackoff(), 0),
        health_check_interval=0,
    )
    return redis.Redis.from_pool(pool)


class RedisBackend:
    name = "redis"

    def __init__(self, client: redis.Redis, breaker: Breaker) -> None:
        self.client = client
        self.breaker = breaker
        self._current = client.register_script(CURRENT)

    async def _call(self, op: Callable[[], Awaitable[T]], default: T) -> T:
        if not self.breaker.allow():
            return default
        try:
            result = await op()
        except TROUBLE as exc:
            self.breaker.record_failure(exc)
            return default
        except BaseException:
            self.breaker.abandon()  # a cancelled probe must not leave the circuit stuck open
            raise
        self.breaker.record_success()
        return result

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        async def op() -> list[bytes | None]:
            values = await self.client.mget(list(keys))
            return [v.encode() if isinstance(v, str) else v for v in values]

        return await self._call(op, [None] * len(keys))

    async def set_many(
        self, items: Sequence[tuple[str, bytes, float]], delete: Sequence[str] = ()
    ) -> None:
        if not items and not delete:
            return

        async def op() -> None:
            pipe = self.client.pipeline(transaction=False)
            for key, value, ttl_s in items:
                pipe.set(key, value, px=max(int(ttl_s * 1000), 1))
            if delete:
                pipe.delete(*delete)
            await pipe.execute()

        await self._call(op, None)

    async def lease_many(self, keys: Sequence[str], ttl_ms: int) -> list[bool]:
        async def op() -> list[bool]:
            pipe = self.client.pipeline(transaction=False)
            for key in keys:
                pipe.set(key, b"1", nx=True, px=ttl_ms)
            answers: list[Any] = await pipe.execute()
            return [bool(a) for a in answers]

        # Without Redis every process loads for itself: the database is the fallback anyway.
        return await self._call(op, [True] * len(keys))

    async def bump_many(self, keys: Sequence[str]) -> None:
        async def op() -> None:
            pipe = self.client.pipeline(transaction=False)
            for key in keys:
                pipe.incr(key)
            await pipe.execute()

        await self._call(op, None)

    async def get_current(
        self, key: str, generation_prefix: str, tag: str
    ) -> tuple[bytes | None, int]:
        async def op() -> tuple[bytes | None, int]:
            raw, generation = await self._current(keys=[key], args=[generation_prefix, tag])
            value = raw.encode() if isinstance(raw, str) else raw
            return (value if isinstance(value, bytes) else None), int(generation)

        return await self._call(op, (None, 0))

    async def ping(self) -> bool:
        """Ask Redis directly (not through the breaker): readiness must see the truth."""
        try:
            return bool(await self.client.ping())
        except TROUBLE:
            return False

    async def close(self) -> None:
        await self.client.aclose()
