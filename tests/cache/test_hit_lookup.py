"""A response-cache hit on a single Redis: looked up and charged in one round trip."""

from __future__ import annotations

import httpx
import pytest

from app.config import Settings
from app.db import Database
from app.main import create_app
from tests.cache.conftest import cache_settings, command_log
from tests.conftest import serve
from tests.factories.universe import make_universe

QUERY = "query { stocks(first: 3) { nodes { symbol name } } }"


async def post(client: httpx.AsyncClient, query: str = QUERY) -> httpx.Response:
    return await client.post("/graphql", json={"query": query})


@pytest.fixture
def redis_settings(settings: Settings, namespace: str, redis_url: str) -> Settings:
    return cache_settings(
        settings,
        namespace,
        redis_url=redis_url,
        cache_response_enabled=True,
        budget_anonymous_capacity=1000,
        budget_anonymous_restore_per_s=0.01,  # so a point taken shows
    )


async def test_a_hit_is_one_redis_round_trip_that_also_charges_the_caller(
    db: Database, redis_settings: Settings
) -> None:
    await make_universe(db, 3, 1)
    # Every hit asks Redis (none kept in the worker: tests/cache/test_near_hits.py).
    app = create_app(redis_settings.model_copy(update={"cache_response_near_entries": 0}))
    async with serve(app) as client:
        miss = await post(client)
        log = command_log(app.state.resources.cache)
        first, second = await post(client), await post(client)
    assert (miss.headers["x-cache"], first.headers["x-cache"]) == ("MISS", "HIT")
    # One a hit: the look-up script, which charged it too (no call of the budget's own script).
    assert log.all_round_trips == [["EVALSHA"], ["EVALSHA"]]
    costs = [r.json()["extensions"]["cost"] for r in (first, second)]
    assert [c["actualQueryCost"] for c in costs] == [1, 1]
    available = [c["throttleStatus"]["currentlyAvailable"] for c in costs]
    # One point a hit (the bucket refills meanwhile by a fraction of a point).
    assert available[0] - 1 <= available[1] < available[0] - 0.9


async def test_a_hit_over_the_budget_is_refused_and_a_revalidation_is_not_charged(
    db: Database, settings: Settings, namespace: str, redis_url: str
) -> None:
    await make_universe(db, 3, 1)
    tight = cache_settings(
        settings,
        namespace,
        redis_url=redis_url,
        cache_response_enabled=True,
        budget_anonymous_capacity=60,
        budget_anonymous_restore_per_s=0.01,
    )
    async with serve(create_app(tight)) as client:
        miss = await post(client)  # costs the operation's points
        answers = [await post(client) for _ in range(60)]
        codes = [a.status_code for a in answers]
    assert miss.headers["x-cache"] == "MISS"
    left = miss.json()["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"]
    allowed = int(left)  # whole points left: a hit each
    assert codes[:allowed] == [200] * allowed
    assert set(codes[allowed:]) == {429}
    refused = answers[-1]
    assert refused.json()["errors"][0]["extensions"]["code"] == "THROTTLED"
    assert refused.headers["retry-after"]
