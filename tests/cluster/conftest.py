"""A private 3-master Redis Cluster for the session, and settings that run the app on it.

The tests of this folder that come from elsewhere (reference operations, invalidation, budgets,
live events) run unchanged; only `redis_url` and `settings` differ here. REDIS_CLUSTER is set in
the environment too, as a deployment sets it, for tests that build their own Settings.

The Redis timeout is raised from 40 ms: a worker's first cluster command fetches the command table
(COMMAND), which a CPU-starved test host can take longer than 40 ms to parse, and the
tests assert what was cached, not how the breaker copes with a slow host (tests/faults does).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from redis.asyncio.cluster import RedisCluster as ClusterClient

from app.config import Settings
from bench.rediscluster import REDIS_CLI, REDIS_SERVER, RedisCluster

PATIENT_MS = 500


def require_redis_binaries(request: pytest.FixtureRequest) -> None:
    """Skip without redis-server and redis-cli; fail instead when services are required."""
    if Path(REDIS_SERVER).exists() and Path(REDIS_CLI).exists():
        return
    required = request.config.getoption("--require-services") or os.environ.get(
        "INSITECHART_REQUIRE_SERVICES"
    )
    if required:
        pytest.fail("redis-server or redis-cli is not installed", pytrace=False)
    pytest.skip("redis-server or redis-cli is not installed")


@pytest.fixture(scope="session")
def redis_cluster(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RedisCluster]:
    require_redis_binaries(request)
    cluster = RedisCluster(tmp_path_factory.mktemp("redis-cluster"))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(autouse=True)
def cluster_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_CLUSTER", "true")
    monkeypatch.setenv("CACHE_REDIS_TIMEOUT_MS", str(PATIENT_MS))


@pytest.fixture
def redis_url(redis_cluster: RedisCluster) -> str:
    return redis_cluster.url


@pytest.fixture
def settings(settings: Settings, redis_url: str) -> Settings:
    update = {"redis_url": redis_url, "redis_cluster": True, "cache_redis_timeout_ms": PATIENT_MS}
    return settings.model_copy(update=update)


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[ClusterClient]:
    """A client of the cluster (the tests' keys go with the cluster at the end of the session)."""
    client = ClusterClient.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def redis(redis_client: ClusterClient) -> ClusterClient:
    return redis_client
