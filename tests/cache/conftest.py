"""Cache test fixtures: settings per cache backend, a unique key namespace, Redis command logs."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as redis

from app.cache import Cache, RedisBackend
from app.config import Settings
from app.ratelimit import TAKE_SCRIPT
from app.redis_pipe import RedisPipe
from tests.conftest import RUN_PREFIX


@pytest.fixture
def namespace() -> str:
    return f"{RUN_PREFIX}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
async def redis_client(redis_url: str, namespace: str) -> AsyncIterator[redis.Redis]:
    """A plain client on the test Redis; the test's keys are deleted afterwards."""
    client = redis.Redis.from_url(redis_url)
    try:
        yield client
    finally:
        keys = [k async for k in client.scan_iter(match=f"{namespace}:*", count=1000)]
        if keys:
            await client.delete(*keys)
        await client.aclose()


def cache_settings(settings: Settings, namespace: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": settings.database_url,
        "redis_url": None,
        "log_level": "warning",
        "cache_namespace": namespace,
        "cache_response_enabled": False,  # field-cache tests see every request reach the loaders
        "cache_warm_on_start": False,
        "cache_warm_interval_s": 0,
        # Budgets in Redis outlive a run: a namespace of their own keeps runs from sharing them.
        "budget_key_prefix": f"{namespace}:budget:",
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(params=["memory", "redis"])
def cached_settings(request: pytest.FixtureRequest, settings: Settings, namespace: str) -> Settings:
    """Settings with the field cache on: in-process LRU, or Redis (TEST_REDIS_URL)."""
    if request.param == "memory":
        return cache_settings(settings, namespace)
    request.getfixturevalue("redis_client")  # cleans the namespace up afterwards
    return cache_settings(settings, namespace, redis_url=request.getfixturevalue("redis_url"))


class CommandLog:
    """Every command a Redis client sends: one entry per round trip (a pipeline is one entry)."""

    def __init__(self, client: redis.Redis, pipe: RedisPipe | None = None) -> None:
        self.round_trips: list[list[str]] = []
        self.all_round_trips: list[list[str]] = []  # the budget's too
        execute_command: Any = client.execute_command
        make_pipeline = client.pipeline
        if pipe is not None:  # the worker's pipelined connection (app/redis_pipe.py) is counted too
            setattr(pipe, "execute", self._counting(pipe.execute))  # noqa: B010

        async def counted_command(*args: Any, **options: Any) -> Any:
            self.all_round_trips.append([_name(args)])
            if not _budget(args):  # the budget shares the worker's Redis client
                self.round_trips.append([_name(args)])
            return await execute_command(*args, **options)

        def counted_pipeline(*args: Any, **kwargs: Any) -> Any:
            pipe = make_pipeline(*args, **kwargs)
            execute = pipe.execute

            async def counted_execute(*eargs: Any, **ekwargs: Any) -> Any:
                self.round_trips.append([_name(a) for a, _ in pipe.command_stack])
                self.all_round_trips.append(self.round_trips[-1])
                return await execute(*eargs, **ekwargs)

            setattr(pipe, "execute", counted_execute)  # noqa: B010
            return pipe

        setattr(client, "execute_command", counted_command)  # noqa: B010
        setattr(client, "pipeline", counted_pipeline)  # noqa: B010

    def _counting(self, execute: Any) -> Any:
        async def counted(*args: Any) -> Any:
            self.all_round_trips.append([_name(args)])
            if not _budget(args):
                self.round_trips.append([_name(args)])
            return await execute(*args)

        return counted

    def clear(self) -> None:
        self.round_trips.clear()

    def count(self, first: str) -> int:
        """Round trips whose first command is `first` (MGET, SET, ...)."""
        return sum(1 for trip in self.round_trips if trip and trip[0] == first)

    def pipelines(self, first: str) -> list[list[str]]:
        return [t for t in self.round_trips if t and t[0] == first]


BUDGET_SHA = hashlib.sha1(TAKE_SCRIPT.encode()).hexdigest()


def _budget(args: tuple[Any, ...]) -> bool:
    """A call of the budget's script (or the loading of it)."""
    texts = [a.decode() if isinstance(a, bytes) else str(a) for a in args[:2]]
    return BUDGET_SHA in texts or TAKE_SCRIPT in texts or (len(args) > 2 and args[2] == TAKE_SCRIPT)


def _name(args: tuple[Any, ...]) -> str:
    """The command's name; a SET with NX (a lease) is told apart as SET-NX."""
    first = args[0]
    name = (first.decode() if isinstance(first, bytes) else str(first)).upper()
    if name == "SET" and any(str(a).upper() == "NX" for a in args[3:]):
        return "SET-NX"
    return name


async def caught_up(app: Any) -> None:
    """Wait until every write made to Redis so far, by any client, has reached the app's worker
    (and dropped what it keeps that the write changed: app/http/near_hits.py)."""
    tracker = app.state.resources.tracker
    if tracker is not None:
        await asyncio.wait_for(tracker.connected.wait(), 5)
        await tracker.caught_up()


def command_log(cache: Cache | None) -> CommandLog:
    assert cache is not None and isinstance(cache.backend, RedisBackend)
    assert isinstance(cache.backend.client, redis.Redis)
    return CommandLog(cache.backend.client, cache.backend.shared.pipe)
