"""Response-cache hits answered from the worker's memory while Redis tracks what they depend on
(app/http/near_hits.py): no Redis round trip, the same answers, budgets charged from a lease,
and nothing served that a write has changed. A private Redis killed and frozen under them:
tests/faults/test_near_hits_faults.py."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import orjson
import pytest
import redis.asyncio as redis
from fastapi import FastAPI

from app.config import Settings
from app.db import Database
from app.http.entry import decode, encode
from app.http.near_hits import LEASE_S, NearHits
from app.main import create_app
from app.ratelimit import Rate
from tests.cache.conftest import cache_settings, caught_up, command_log
from tests.conftest import serve
from tests.factories.universe import make_universe

QUERY = '{ stock(symbol: "S000") { symbol sentiment { compoundScore mentionCount24h } } }'


@pytest.fixture
def near_settings(settings: Settings, namespace: str, redis_url: str) -> Settings:
    return cache_settings(
        settings,
        namespace,
        redis_url=redis_url,
        cache_response_enabled=True,
        budget_anonymous_capacity=1000,  # a lease of 10 points (a hundredth)
        budget_anonymous_restore_per_s=0.01,  # so each point taken shows
    )


async def post(client: httpx.AsyncClient, query: str = QUERY) -> httpx.Response:
    return await client.post("/graphql", json={"query": query})


async def missed(app: FastAPI, client: httpx.AsyncClient) -> tuple[Any, httpx.Response]:
    """The app's NearHits once Redis tracks for it, and a first request (a miss, stored) whose
    write has reached the worker (so its push cannot drop what the next request keeps)."""
    await caught_up(app)
    miss = await post(client)
    await caught_up(app)
    return app.state.resources.near, miss


async def kept(
    app: FastAPI, client: httpx.AsyncClient, redis_client: redis.Redis, namespace: str
) -> tuple[Any, str, list[str]]:
    """QUERY answered until the worker keeps it: its NearHits, the entry's key and its tags."""
    near, _ = await missed(app, client)
    assert (await post(client)).headers["x-cache"] == "HIT"
    key, tags = await stored_key_and_tags(redis_client, namespace)
    assert key in near and tags
    return near, key, tags


def available(response: httpx.Response) -> int:
    return int(response.json()["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"])


def without_cost(response: httpx.Response) -> Any:
    body = response.json()
    del body["extensions"]
    return body


async def stored_key_and_tags(client: redis.Redis, namespace: str) -> tuple[str, list[str]]:
    [key] = [k.decode() async for k in client.scan_iter(match=f"{namespace}:resp:*")]
    raw = await client.get(key)
    assert isinstance(raw, bytes)
    entry = decode(raw)
    assert entry is not None
    return key, [tag for tag, _ in entry[0]]


async def test_hits_are_answered_without_redis_and_charged_from_a_lease(
    db: Database, near_settings: Settings, redis_client: redis.Redis, namespace: str
) -> None:
    await make_universe(db, 3, 1)
    app = create_app(near_settings)
    async with serve(app) as client:
        near, miss = await missed(app, client)
        log = command_log(app.state.resources.cache)
        hits = [await post(client) for _ in range(25)]
        key, _ = await stored_key_and_tags(redis_client, namespace)
        bucket = await redis_client.hget(f"{namespace}:budget:ip:127.0.0.1", "tokens")
        assert key in near
    assert miss.headers["x-cache"] == "MISS"
    assert {h.headers["x-cache"] for h in hits} == {"HIT"}
    assert all(without_cost(h) == without_cost(miss) for h in hits)
    # The first hit is looked up and tops the lease up (one script); each later one asks Redis
    # only when its 10 points are spent (the budget's script, at the 11th and the 21st).
    assert log.round_trips == [["EVALSHA"]]
    assert len(log.all_round_trips) == 3
    # One point a hit, as when each was charged in Redis (the bucket refills 0.01 a second).
    spent = [available(hits[0]) - available(h) for h in hits]
    assert spent == list(range(25))
    # What the bucket lost is what the hits spent and the rest of the current lease.
    assert isinstance(bucket, bytes)
    left = float(bucket) + 5  # 25 hits: three leases of 10 taken, 5 points not spent
    assert available(hits[-1]) <= left < available(hits[-1]) + 1


async def test_a_write_by_another_client_is_not_served_once_redis_tells(
    db: Database, near_settings: Settings, redis_client: redis.Redis, namespace: str
) -> None:
    await make_universe(db, 3, 1)
    app = create_app(near_settings)
    async with serve(app) as client:
        near, key, tags = await kept(app, client, redis_client, namespace)
        started = time.perf_counter()
        await redis_client.incr(f"{namespace}:gen:{tags[0]}")  # another worker's ingest
        while key in near:
            assert time.perf_counter() - started < 1.0, "no push within a second"
            await asyncio.sleep(0.001)
        after = await post(client)
    assert after.headers["x-cache"] == "MISS"


async def test_an_entry_rewritten_by_another_client_is_dropped(
    db: Database, near_settings: Settings, redis_client: redis.Redis, namespace: str
) -> None:
    await make_universe(db, 3, 1)
    app = create_app(near_settings)
    async with serve(app) as client:
        near, key, _ = await kept(app, client, redis_client, namespace)
        await redis_client.delete(key)
        await caught_up(app)
        assert key not in near
        assert (await post(client)).headers["x-cache"] == "MISS"


async def test_a_write_of_the_workers_own_drops_its_copies_before_it_returns(
    db: Database, near_settings: Settings, redis_client: redis.Redis, namespace: str
) -> None:
    await make_universe(db, 3, 1)
    app = create_app(near_settings)
    async with serve(app) as client:
        near, key, tags = await kept(app, client, redis_client, namespace)
        await app.state.resources.cache.bump(tags[:1])  # what an ingest's after-write hook does
        assert key not in near  # before Redis's push could come
        assert (await post(client)).headers["x-cache"] == "MISS"


async def test_concurrent_hits_take_from_the_bucket_exactly_what_they_spend(
    db: Database, near_settings: Settings, redis_client: redis.Redis, namespace: str
) -> None:
    await make_universe(db, 3, 1)
    # A take that timed out may have run: what it took is not counted (lost, not spent twice).
    # Time enough for every take to be answered keeps the count exact.
    app = create_app(near_settings.model_copy(update={"cache_redis_timeout_ms": 5000}))
    async with serve(app) as client:
        near, miss = await missed(app, client)
        before = available(miss)

        async def hits() -> list[httpx.Response]:
            return [await post(client) for _ in range(40)]

        answers = [a for run in await asyncio.gather(*[hits() for _ in range(16)]) for a in run]
        tokens = await redis_client.hget(f"{namespace}:budget:ip:127.0.0.1", "tokens")
        left = near._leases["ip:127.0.0.1"].left
    assert [a.status_code for a in answers] == [200] * 640
    assert isinstance(tokens, bytes)
    # Each answer says what it cost (a hit 1 point; an execution more, should a look-up have
    # timed out under the load). What the bucket lost is what was spent and what the worker
    # still holds (the bucket refills 0.01 a point a second meanwhile).
    spent = sum(a.json()["extensions"]["cost"]["actualQueryCost"] for a in answers)
    assert before - spent <= float(tokens) + left < before - spent + 2
    assert 0 <= left < 2 * 10


async def test_workers_sharing_a_bucket_never_spend_more_than_it_holds(
    db: Database, near_settings: Settings
) -> None:
    await make_universe(db, 3, 1)
    tight = near_settings.model_copy(update={"budget_anonymous_capacity": 300})  # leases of 3
    first, second = create_app(tight), create_app(tight)
    async with serve(first) as one, serve(second) as two:
        await caught_up(second)
        _, miss = await missed(first, one)
        left = available(miss)
        answers = [await post(c) for _ in range(left // 2 + 10) for c in (one, two)]
    codes = [a.status_code for a in answers]
    served = codes.count(200)
    # Each worker may hold at most one lease's rest (3 points) that the other cannot spend.
    assert left - 2 * 3 <= served <= left
    assert codes[-4:] == [429] * 4
    refused = answers[-1].json()["errors"][0]["extensions"]
    assert refused["code"] == "THROTTLED"


async def test_a_revalidation_asks_redis_and_is_not_charged(
    db: Database, near_settings: Settings
) -> None:
    await make_universe(db, 3, 1)
    app = create_app(near_settings)
    async with serve(app) as client:
        await caught_up(app)
        preflight = {"apollo-require-preflight": "1"}  # a GET that is not a CSRF
        first = await client.get("/graphql", params={"query": QUERY}, headers=preflight)
        etag = first.headers["etag"]
        await caught_up(app)
        await client.get("/graphql", params={"query": QUERY}, headers=preflight)  # kept
        log = command_log(app.state.resources.cache)
        again = await client.get(
            "/graphql", params={"query": QUERY}, headers={"if-none-match": etag, **preflight}
        )
    assert again.status_code == 304
    assert len(log.all_round_trips) == 1  # the entry, from Redis: no budget taken


# --- NearHits alone ---


def near_hits(**overrides: Any) -> NearHits:
    values: dict[str, Any] = {
        "max_entries": 3,
        "max_bytes": 1 << 20,
        "lease_points": 10,
        "generation_prefix": "ns:gen:",
        "entry_prefix": "ns:resp:",
    }
    near = NearHits(**{**values, **overrides})
    near.live = True
    return near


def entry(tags: list[str], ttl: float = 60.0, size: int = 10) -> bytes:
    body = b'{"data":' + b'"' + b"x" * size + b'"}'
    pairs = [(tag, 1) for tag in tags]
    return encode(pairs, time.time() + ttl, 'W/"e"', 1, "Q", body, None, None)


def test_entries_are_bounded_by_count_and_bytes_least_recent_first() -> None:
    near = near_hits()
    for name in "abc":
        near.keep(f"ns:resp:{name}", entry(["t"]), near.epoch)
    assert near.get("ns:resp:a") is not None  # a is now the most recent
    near.keep("ns:resp:d", entry(["t"]), near.epoch)
    assert [k for k in ("a", "b", "c", "d") if f"ns:resp:{k}" in near] == ["a", "c", "d"]
    small = near_hits(max_bytes=2 * len(entry(["t"], size=100)) + 40)  # room for two
    for name in "abc":
        small.keep(f"ns:resp:{name}", entry(["t"], size=100), small.epoch)
    assert len(small) == 2 and small.size_bytes <= small.max_bytes


def test_an_entry_is_not_answered_within_a_second_of_its_expiry() -> None:
    near = near_hits()
    near.keep("ns:resp:a", entry(["t"], ttl=0.5), near.epoch)
    assert near.get("ns:resp:a") is None
    assert "ns:resp:a" not in near


def test_nothing_is_kept_or_answered_unless_redis_tracks() -> None:
    near = near_hits()
    near.keep("ns:resp:a", entry(["t"]), near.epoch)
    near.live = False
    assert near.get("ns:resp:a") is None
    near.keep("ns:resp:b", entry(["t"]), near.epoch)
    assert "ns:resp:b" not in near


def test_a_look_up_that_raced_an_invalidation_of_its_entry_keeps_nothing() -> None:
    near = near_hits(max_entries=10)
    epoch = near.epoch  # the look-ups leave for Redis
    near.invalidated([b"ns:gen:t", b"ns:resp:b"])  # a push arrives meanwhile
    near.keep("ns:resp:a", entry(["t"]), epoch)  # its tag moved
    near.keep("ns:resp:b", entry(["u"]), epoch)  # it was written
    near.keep("ns:resp:c", entry(["u"]), epoch)  # neither
    assert ["ns:resp:a" in near, "ns:resp:b" in near, "ns:resp:c" in near] == [
        False,
        False,
        True,
    ]
    for n in range(300):  # more than are remembered: whether one named it is not known
        near.invalidated([b"ns:gen:other-%d" % n])
    near.keep("ns:resp:d", entry(["u"]), epoch)
    assert "ns:resp:d" not in near
    near.invalidated(None)
    near.keep("ns:resp:e", entry(["u"]), near.epoch - 1)  # everything was dropped meanwhile
    assert "ns:resp:e" not in near


def test_invalidations_drop_by_tag_by_entry_or_everything() -> None:
    near = near_hits(max_entries=10)
    near.keep("ns:resp:a", entry(["stock:1", "trending"]), near.epoch)
    near.keep("ns:resp:b", entry(["stock:2"]), near.epoch)
    near.keep("ns:resp:c", entry(["stock:3"]), near.epoch)
    near.invalidated([b"ns:gen:trending", b"elsewhere:gen:stock:2"])
    assert ["ns:resp:a" in near, "ns:resp:b" in near, "ns:resp:c" in near] == [False, True, True]
    near.invalidated([b"ns:resp:b"])
    assert "ns:resp:b" not in near and "ns:resp:c" in near
    near.drop_tags(["stock:3"])
    assert len(near) == 0
    near.keep("ns:resp:d", entry(["stock:4"]), near.epoch)
    near.invalidated(None)  # FLUSHDB
    assert len(near) == 0 and near.size_bytes == 0


def test_a_lease_is_spent_locally_for_a_second_then_topped_up() -> None:
    near = near_hits()
    rate = Rate(capacity=1000, per_s=0.0)
    assert near.charge("c", 1, rate) is None  # no lease yet
    first = near.top_up("c", 1, rate)
    assert (first.want, first.least, first.rest) == (10, 1, 0)  # up to 10, at least a point
    decision = near.topped_up(first, 1, rate, True, 990.0, 10.0)  # Redis: took 10, 990 left
    assert (decision.allowed, decision.available) == (True, 999.0)
    spent = [near.charge("c", 1, rate) for _ in range(9)]
    assert [d.available for d in spent if d is not None] == [998.0 - i for i in range(9)]
    assert near.charge("c", 1, rate) is None  # spent: topped up next
    second = near.top_up("c", 1, rate)
    assert (second.want, second.least) == (10, 1)
    near.topped_up(second, 1, rate, True, 980.0, 10.0)
    near._leases["c"].topped_up -= LEASE_S + 0.1  # a second later: Redis's count is asked again
    assert near.charge("c", 1, rate) is None
    third = near.top_up("c", 1, rate)
    assert (third.want, third.least, third.rest) == (1, -8, 9)  # the 9 left refunded in the take


def test_concurrent_top_ups_refund_a_lease_once() -> None:
    near = near_hits()
    rate = Rate(capacity=1000, per_s=0.0)
    near.topped_up(near.top_up("c", 1, rate), 1, rate, True, 990.0, 10.0)  # 9 left
    near._leases["c"].topped_up -= LEASE_S + 0.1
    # Two hits find the lease stale at once; both ask Redis before either answer comes.
    first, second = near.top_up("c", 1, rate), near.top_up("c", 1, rate)
    assert (first.rest, second.rest) == (9, 0)  # only the first carries the rest
    near.topped_up(first, 1, rate, True, 989.0, 1.0)  # took 1 (10 wanted less the 9 refunded)
    near.topped_up(second, 1, rate, True, 979.0, 10.0)
    # Taken from the bucket: 10 + 1 + 10 = 21 points; spent: 3 hits; so 18 left, never less.
    assert near._leases["c"].left == 18


def test_a_take_that_took_nothing_gives_the_rest_back() -> None:
    near = near_hits()
    rate = Rate(capacity=1000, per_s=1.0)
    near.topped_up(near.top_up("c", 1, rate), 1, rate, True, 990.0, 10.0)  # 9 left
    near._leases["c"].topped_up -= LEASE_S + 0.1
    missed = near.top_up("c", 1, rate)  # the script found no entry, and charged nothing
    near.returned(missed)
    assert near._leases["c"].left == 9
    refused = near.top_up("c", 1, rate)
    decision = near.topped_up(refused, 1, rate, False, 0.0, 0.0)
    assert not decision.allowed and near._leases["c"].left == 9


def test_a_lease_never_holds_more_than_a_hundredth_of_the_bucket() -> None:
    near = near_hits(lease_points=64)
    assert near.top_up("c", 1, Rate(capacity=500, per_s=1.0)).want == 5
    assert near.top_up("c", 1, Rate(capacity=40, per_s=1.0)).want == 1  # a point a hit


def test_a_refused_top_up_is_a_refusal_with_the_wait() -> None:
    near = near_hits()
    rate = Rate(capacity=1000, per_s=2.0)
    decision = near.topped_up(near.top_up("c", 1, rate), 1, rate, False, 0.5, 0.0)
    assert (decision.allowed, decision.available, decision.retry_after_s) == (False, 0.5, 1)


def test_reported_points_never_exceed_what_an_unleased_bucket_holds() -> None:
    near = near_hits()
    rate = Rate(capacity=1000, per_s=1e9)  # refilled between any two requests
    near.topped_up(near.top_up("c", 1, rate), 1, rate, True, 990.0, 10.0)
    near._leases["c"].topped_up -= LEASE_S + 0.1
    again = near.top_up("c", 1, rate)
    # Redis refilled to 1000 and took the 1 point missing from a full lease: 999 left.
    decision = near.topped_up(again, 1, rate, True, 999.0, again.want)
    assert again.least < 0 and decision.available == 999.0
    assert orjson.dumps(int(decision.available)) == b"999"
