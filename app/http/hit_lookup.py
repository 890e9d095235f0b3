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
from app.http.entry import Entry
from app.http.near_hits import NearHits, TopUp
from app.ratelimit import TAKE_FUNCTION, Buckets, Decision, Rate, RedisBuckets, decide

# KEYS: the entry, the caller's bucket. ARGV: generation prefix, tag, capacity, rate, cost, and
# the least to take (less than the cost when it tops a lease up: app/http/near_hits.py).
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
local allowed, tokens, took = take(
  KEYS[2], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]))
return {raw, gen, allowed, tostring(tokens), tostring(took)}
"""
)


@dataclass(frozen=True, slots=True)
class Lookup:
    raw: bytes | None  # the entry, when current (as Redis holds it)
    generation: int  # the `responses` tag's generation, for storing a miss
    decision: Decision | None  # the hit's charge, when the look-up made it
    entry: Entry | None = None  # the entry decoded, when the worker kept it (`raw` is then None)


class HitLookup:
    """Looks an entry up and, on a single Redis shared with the budgets, charges the hit too;
    with `near`, answers what the worker keeps without Redis (app/http/near_hits.py)."""

    def __init__(self, cache: Cache, buckets: Buckets | None, near: NearHits | None = None) -> None:
        self.cache = cache
        self.buckets = buckets
        self.near: NearHits | None = None
        self._script: Any = None
        backend = cache.backend
        if (
            isinstance(backend, RedisBackend)
            and isinstance(buckets, RedisBuckets)
            and not backend.shared.cluster
            and buckets.shared.client is backend.client
        ):
            self._script = backend.shared.script(HIT_AND_TAKE)
            self.near = near

    async def lookup(
        self, key: str, tag: str, client: str, rate: Rate, cost: int, charge: bool = True
    ) -> Lookup:
        """The entry, if current; charged `cost` when it is and `charge` and one script can
        (else `decision` is None and the caller charges the hit itself)."""
        cache = self.cache
        if not charge or self._script is None or not isinstance(self.buckets, RedisBuckets):
            raw, generation = await cache.backend.get_current(key, cache.generation_key(""), tag)
            return Lookup(raw, generation, None)
        near = self.near
        top_up: TopUp | None = None
        if near is None:
            want: float = cost
            least: float = cost
        else:
            kept = near.get(key)
            if kept is not None:
                decision = near.charge(client, cost, rate)
                if decision is None:
                    decision = await self._top_up(near, client, cost, rate)
                if decision is not None:
                    # No generation: a hit stores nothing.
                    return Lookup(None, 0, decision, kept.entry)
            top_up = near.top_up(client, cost, rate)
            want, least = top_up.want, top_up.least
            epoch = near.epoch
        bucket = self.buckets.prefix + client
        args = [cache.generation_key(""), tag, rate.capacity, rate.per_s, want, least]

        async def op() -> Any:
            return await self._script(keys=[key, bucket], args=args)

        answer = await self.buckets.shared.call(op, None)
        # Redis unavailable: a miss, and the execution is charged locally. Whether a take that
        # timed out ran is not known: its rest is not given back (lost rather than spent twice).
        if answer is None:
            return Lookup(None, 0, None)
        raw, generation = answer[0], int(answer[1])
        if not raw:
            if near is not None and top_up is not None:
                near.returned(top_up)  # the script charges no miss
            return Lookup(None, generation, None)
        entry = raw.encode() if isinstance(raw, str) else raw
        allowed, available = bool(answer[2]), float(answer[3])
        if near is None or top_up is None:
            return Lookup(entry, generation, decide(allowed, available, cost, rate))
        decision = near.topped_up(top_up, cost, rate, allowed, available, float(answer[4]))
        near.keep(key, entry, epoch)
        return Lookup(entry, generation, decision)

    async def _top_up(self, near: NearHits, client: str, cost: int, rate: Rate) -> Decision | None:
        """Top the caller's lease up in Redis and charge the hit from it; None while Redis is
        unreachable (the look-up that follows finds out)."""
        assert isinstance(self.buckets, RedisBuckets)
        top_up = near.top_up(client, cost, rate)
        taken = await self.buckets.take_up_to(client, top_up.want, top_up.least, rate)
        if taken is None:  # whether it ran is not known: the rest is lost, not spent twice
            return None
        return near.topped_up(top_up, cost, rate, *taken)
