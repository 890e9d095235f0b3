"""Token buckets of cost points per client: in Redis (one atomic Lua script) or in-process.

A bucket holds up to `capacity` points and refills at `rate` points per second. Taking more than it
holds is refused with the seconds to wait; a negative take is a refund (capped at the capacity).
"""

from __future__ import annotations

import logging
import math
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Protocol

from redis.asyncio import Redis

from app.config import Settings
from app.redis_shared import SharedRedis

log = logging.getLogger("insitechart.ratelimit")


@dataclass(frozen=True, slots=True)
class Rate:
    capacity: int
    per_s: float


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    available: float
    retry_after_s: int  # 0 when allowed


def decide(allowed: bool, available: float, cost: float, rate: Rate) -> Decision:
    wait = 0 if allowed else max(1, math.ceil((cost - available) / rate.per_s))
    return Decision(allowed, available, wait)


class Buckets(Protocol):
    async def take(self, client: str, cost: float, rate: Rate) -> Decision: ...

    async def close(self) -> None: ...


class MemoryBuckets:
    """Buckets of one process, bounded: the least recently seen clients are forgotten first."""

    def __init__(self, max_clients: int = 100_000) -> None:
        self.max_clients = max_clients
        self._state: OrderedDict[str, tuple[float, float]] = OrderedDict()

    async def take(self, client: str, cost: float, rate: Rate) -> Decision:
        now = time.monotonic()
        tokens, stamp = self._state.pop(client, (float(rate.capacity), now))
        tokens = min(rate.capacity, tokens + max(0.0, now - stamp) * rate.per_s)
        allowed = cost <= tokens
        if allowed:
            tokens = min(rate.capacity, tokens - cost)
        self._state[client] = (tokens, now)
        if len(self._state) > self.max_clients:
            self._state.popitem(last=False)
        return decide(allowed, tokens, cost, rate)

    async def close(self) -> None:
        self._state.clear()


# KEYS[1] bucket; ARGV: capacity, points per second, cost (negative: refund). Redis's own clock,
# so every app instance sees the same time.
# A token bucket in a Redis hash: refill for the time since its stamp, then take `cost` if there
# is that much. A function, so the response cache's hit script (app/http/hit_lookup.py) charges a
# hit with the same code in the same round trip as its look-up. With `least` (a lease, app/http/
# near_hits.py) it takes as much of `cost` as the bucket holds, provided it holds `least`; it
# returns what it took as well.
TAKE_FUNCTION = """
local function take(key, capacity, rate, cost, least)
  local t = redis.call('TIME')
  local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
  local state = redis.call('HMGET', key, 'tokens', 'ts')
  local tokens = tonumber(state[1])
  local stamp = tonumber(state[2])
  if tokens == nil or stamp == nil then
    tokens = capacity
    stamp = now
  end
  tokens = math.min(capacity, tokens + math.max(0, now - stamp) * rate)
  if least == nil then least = cost end
  local allowed, took = 0, 0
  if least <= tokens then
    took = math.min(cost, tokens)
    tokens = math.min(capacity, tokens - took)
    allowed = 1
  end
  redis.call('HSET', key, 'tokens', tostring(tokens), 'ts', tostring(now))
  redis.call('PEXPIRE', key, math.ceil(capacity / rate * 1000) + 1000)
  return allowed, tokens, took
end
"""
TAKE_SCRIPT = (
    TAKE_FUNCTION
    + """
local allowed, tokens, took = take(
  KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]))
return {allowed, tostring(tokens), tostring(took)}
"""
)


class RedisBuckets:
    """Buckets shared by every app instance that points at the same Redis.

    While Redis is unreachable (the worker's Redis breaker is open), each process falls back to its
    own buckets: budgets get looser (one per process), but the API keeps answering, and no request
    waits on Redis. The breaker logs the outage once; nothing is logged per request.
    """

    def __init__(self, redis: Redis | SharedRedis, prefix: str, owner: bool = True) -> None:
        """`owner`: close the client with the buckets (False for the worker's shared Redis)."""
        self.shared = redis if isinstance(redis, SharedRedis) else SharedRedis.of(redis)
        self.owner = owner
        self.prefix = prefix
        self._script = self.shared.script(TAKE_SCRIPT)
        self.fallback = MemoryBuckets()

    async def take(self, client: str, cost: float, rate: Rate) -> Decision:
        async def op() -> Any:
            return await self._script(
                keys=[self.prefix + client], args=[rate.capacity, rate.per_s, cost]
            )

        answer = await self.shared.call(op, None)
        if answer is None:
            return await self.fallback.take(client, cost, rate)
        return decide(bool(answer[0]), float(answer[1]), cost, rate)

    async def take_up_to(
        self, client: str, cost: float, least: float, rate: Rate
    ) -> tuple[bool, float, float] | None:
        """Take as much of `cost` as the bucket holds, if it holds `least` (a lease): whether it
        did, what the bucket holds after, and what was taken; None while Redis is unreachable."""

        async def op() -> Any:
            return await self._script(
                keys=[self.prefix + client], args=[rate.capacity, rate.per_s, cost, least]
            )

        answer = await self.shared.call(op, None)
        if answer is None:
            return None
        return bool(answer[0]), float(answer[1]), float(answer[2])

    async def close(self) -> None:
        if self.owner:
            await self.shared.close()


def open_buckets(settings: Settings, shared: SharedRedis | None = None) -> Buckets:
    if shared is not None:
        return RedisBuckets(shared, settings.budget_key_prefix, owner=False)
    if settings.redis_url is None:
        return MemoryBuckets()
    return RedisBuckets(SharedRedis.open(settings), settings.budget_key_prefix)


# What the budget tells a caller, the same over HTTP, on a response-cache hit and on a WebSocket:
# a refusal as (message, extensions) and the `extensions.cost` report.
Refusal = tuple[str, dict[str, Any]]


def cost_limit(settings: Settings, rate: Rate) -> int:
    """The highest cost one operation may ask for: COST_MAX_QUERY, at most the bucket."""
    return min(settings.cost_max_query, rate.capacity)


def max_cost_refusal(cost: int, limit: int) -> Refusal:
    message = f"query cost {cost} exceeds the limit of {limit}"
    return message, {"code": "MAX_COST_EXCEEDED", "cost": cost, "limit": limit}


# How a caller gets a larger budget: a key of a higher tier, or the operator's settings.
_BIGGER_TIER = {"anonymous": "free or partner", "free": "partner", "partner": "internal"}


def more_budget_hint(tier: str) -> str:
    """One sentence naming the API key tier and the settings that give a caller more points."""
    name = tier if tier in _BIGGER_TIER or tier == "internal" else "anonymous"
    settings = f"BUDGET_{name.upper()}_CAPACITY and BUDGET_{name.upper()}_RESTORE_PER_S"
    if name == "internal":
        return f"for more, the operator raises {settings}"
    key = f"an API key of the {_BIGGER_TIER[name]} tier (`insitechart apikey create --tier ...`)"
    if name == "anonymous":
        key = f"send {key} as `Authorization: Bearer <key>`"
    else:
        key = f"use {key}"
    return f"for more, {key}, or the operator raises {settings}"


def throttled_refusal(
    cost: int, decision: Decision, what: str = "query", tier: str = "anonymous"
) -> Refusal:
    available, retry = int(decision.available), decision.retry_after_s
    message = (
        f"cost budget exhausted: this {what} costs {cost}, "
        f"{available} points are available; retry in {retry} s; {more_budget_hint(tier)}"
    )
    extensions = {
        "code": "THROTTLED",
        "cost": cost,
        "available": available,
        "retryAfter": retry,
        "tier": tier,
    }
    return message, extensions


def cost_report(requested: int, actual: int, rate: Rate, decision: Decision) -> dict[str, Any]:
    """`extensions.cost`, as Shopify's API reports it."""
    return {
        "requestedQueryCost": requested,
        "actualQueryCost": actual,
        "throttleStatus": {
            "maximumAvailable": rate.capacity,
            "currentlyAvailable": int(decision.available),
            "restoreRate": rate.per_s,
        },
    }


def anonymous_client(address: str) -> str:
    """The client id an anonymous caller's budget is counted against: its address."""
    return f"ip:{address}"


def tier_rate(settings: Settings, tier: str) -> Rate:
    """The budget of a tier; anything unknown gets the anonymous one."""
    rates = {
        "anonymous": Rate(
            settings.budget_anonymous_capacity, settings.budget_anonymous_restore_per_s
        ),
        "free": Rate(settings.budget_free_capacity, settings.budget_free_restore_per_s),
        "partner": Rate(settings.budget_partner_capacity, settings.budget_partner_restore_per_s),
        "internal": Rate(settings.budget_internal_capacity, settings.budget_internal_restore_per_s),
    }
    return rates.get(tier, rates["anonymous"])
