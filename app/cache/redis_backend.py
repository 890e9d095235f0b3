"""The Redis backend: one MGET per read batch, one pipeline per write batch, behind a breaker.

On a Redis Cluster the same calls are split per hash slot by the cluster client (an MGET per slot,
a pipeline per node, sent in parallel), so no key needs a hash tag: nothing here needs two keys
to change atomically. The one exception is get_current: on a single Redis a script checks an
entry's tags in the same round trip (it reads generation keys it is not passed, which a single
server allows and a cluster does not); on a cluster it is two reads, each split per slot.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from app.breaker import Breaker
from app.cache.backend import entry_tags
from app.redis_shared import TROUBLE, Client, SharedRedis

T = TypeVar("T")
# Backend.get_current on a single Redis: the entry, checked against its tags' generations. A
# function, so the response cache's hit script (app/http/hit_lookup.py) shares it.
CURRENT_FUNCTION = """
local function current(key, prefix, tag)
  local gen = tonumber(redis.call('GET', prefix .. tag) or '0')
  local raw = redis.call('GET', key)
  if not raw then return false, gen end
  local nl = string.find(raw, '\\n', 1, true)
  if not nl then return false, gen end
  local ok, head = pcall(cjson.decode, string.sub(raw, 1, nl - 1))
  if not ok or type(head) ~= 'table' or type(head[1]) ~= 'table' then return false, gen end
  local tags, n = head[1], #head[1]
  for first = 1, n, 500 do
    local last = math.min(first + 499, n)
    local keys = {}
    for i = first, last do
      local pair = tags[i]
      if type(pair) ~= 'table' or type(pair[1]) ~= 'string' then return false, gen end
      keys[i - first + 1] = prefix .. pair[1]
    end
    local generations = redis.call('MGET', unpack(keys))
    for i = first, last do
      if tonumber(generations[i - first + 1] or '0') ~= tags[i][2] then return false, gen end
    end
  end
  return raw, gen, head
end
"""
CURRENT = (
    CURRENT_FUNCTION
    + """
local raw, gen = current(KEYS[1], ARGV[1], ARGV[2])
return {raw, gen}
"""
)


class RedisBackend:
    name = "redis"

    def __init__(
        self,
        client: Client,
        breaker: Breaker,
        owner: bool = True,
        shared: SharedRedis | None = None,
    ) -> None:
        """`owner`: close the client with the cache (False when the worker's Redis is shared,
        given as `shared`, whose pipe then serves the reads)."""
        self.client = client
        self.breaker = breaker
        self.owner = owner
        self.shared = shared if shared is not None else SharedRedis(client, breaker)
        self._current = None if self.shared.cluster else self.shared.script(CURRENT)

    async def _call(self, op: Callable[[], Awaitable[T]], default: T) -> T:
        return await self.shared.call(op, default)

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        return await self._call(lambda: self._mget(keys), [None] * len(keys))

    async def _mget(self, keys: Sequence[str]) -> list[bytes | None]:
        return await self.shared.mget(keys)

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
        if self._current is not None:
            return await self._call(lambda: self._scripted(key, generation_prefix, tag), (None, 0))

        async def op() -> tuple[bytes | None, int]:
            raw, generation = await self._mget([key, generation_prefix + tag])
            pairs = entry_tags(raw) if raw is not None else None
            if pairs is None:
                return None, _as_int(generation)
            # A second read, of the generations the entry names: not atomic with the first, and
            # need not be, as a bump in between makes a generation differ (a miss), never a hit.
            current = await self._mget([generation_prefix + t for t, _ in pairs]) if pairs else []
            if any(_as_int(c) != g for c, (_, g) in zip(current, pairs, strict=True)):
                return None, _as_int(generation)
            return raw, _as_int(generation)

        return await self._call(op, (None, 0))

    async def _scripted(
        self, key: str, generation_prefix: str, tag: str
    ) -> tuple[bytes | None, int]:
        assert self._current is not None
        raw, generation = await self._current(keys=[key], args=[generation_prefix, tag])
        value = raw.encode() if isinstance(raw, str) else raw
        return (value if isinstance(value, bytes) else None), int(generation)

    async def ping(self) -> bool:
        """Ask Redis directly (not through the breaker): readiness must see the truth."""
        try:
            return bool(await self.client.ping())
        except TROUBLE:
            return False

    async def close(self) -> None:
        if self.owner:
            await self.client.aclose()


def _as_int(blob: bytes | None) -> int:
    return int(blob) if blob else 0
