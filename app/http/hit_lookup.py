"""A response-cache look-up that charges the hit in the same Redis round trip.

A hit used to cost two round trips: the entry (checked against its tags' generations), then the
caller's budget. On a single Redis both are one script: the entry is looked up as
`Backend.get_current` does, its expiry checked against Redis's clock, and only a fresh entry takes
HIT_COST from the caller's bucket, with the same token-bucket code as every other charge
(app/ratelimit.py). Where the entry and the bucket may not share a script (a Redis Cluster, where
they live in different slots; or no Redis), the look-up and the charge stay two calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.cache import Cache
from app.cache.redis_backend import CURRENT_FUNCTION, RedisBackend
from app.ratelimit import TAKE_FUNCTION, Buckets, Decision, Rate, RedisBuckets, decide

# KEYS: the entry, the caller's bucket. ARGV: generation prefix, tag, capacity, rate, cost.
# A miss (absent, stale, or less than a second left, which the middleware would not serve)
# charges nothing: the execution that follows is charged by the budget extension.
HIT_AND_TAKE = (
    CURRENT_FUNCTION
    + TAKE_FUNCTION
    + """
local raw, gen, head = current(KEYS[1], ARGV[1], ARGV[2])
if not raw then return {false, gen} end
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
if type(head[2]) ~= 'number' or head[2] - now < 1 then return {false, gen} end
local allowed, tokens = take(KEYS[2], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]))
return {raw, gen, allowed, tostring(tokens)}
"""
)


@dataclass(frozen=True, slots=True)
class Lookup:
    raw: bytes | None  # the entry, when current
    generation: int  # the `responses` tag's generation, for storing a miss
    decision: Decision | None  # the hit's charge, when the look-up made it


class HitLookup:
    """Looks an entry up and, on a single Redis shared with the budgets, charges the hit too."""

    def __init__(self, cache: Cache, buckets: Buckets | None) -> None:
        self.cache = cache
        self.buckets = buckets
        self._script: Any = None
        backend = cache.backend
        if (
            isinstance(backend, RedisBackend)
            and isinstance(buckets, RedisBuckets)
            and not backend.shared.cluster
            and buckets.shared.client is backend.client
        ):
            self._script = backend.shared.script(HIT_AND_TAKE)

    async def lookup(
        self, key: str, tag: str, client: str, rate: Rate, cost: int, charge: bool = True
    ) -> Lookup:
        """The entry, if current; charged `cost` when it is and `charge` and one script can
        (else `decision` is None and the caller charges the hit itself)."""
        cache = self.cache
        if not charge or self._script is None or not isinstance(self.buckets, RedisBuckets):
            raw, generation = await cache.backend.get_current(key, cache.generation_key(""), tag)
            return Lookup(raw, generation, None)
        bucket = self.buckets.prefix + client
        args = [cache.generation_key(""), tag, rate.capacity, rate.per_s, cost]

        async def op() -> Any:
            return await self._script(keys=[key, bucket], args=args)

        answer = await self.buckets.shared.call(op, None)
        if answer is None:  # Redis unavailable: a miss, and the execution is charged locally
            return Lookup(None, 0, None)
        raw, generation = answer[0], int(answer[1])
        if not raw:
            return Lookup(None, generation, None)
        entry = raw.encode() if isinstance(raw, str) else raw
        return Lookup(entry, generation, decide(bool(answer[2]), float(answer[3]), cost, rate))
