"""A Redis Cluster master killed under an app: the breaker opens, PostgreSQL answers, no 5xx."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from app.config import Settings
from app.db import Database
from app.main import create_app
from app.resources import Resources
from tests.cluster.conftest import require_redis_binaries
from tests.cluster.services import RedisCluster
from tests.conftest import serve
from tests.factories.universe import make_universe

READS: list[tuple[str, dict[str, Any]]] = [
    ("StockList", {"first": 3}),
    ("StockDetail", {"symbol": "S001"}),
    ("Trending", {}),
    ("MentionFeed", {}),
    ("PartnerScores", {"symbols": ["S000", "S002"]}),
]


async def answers(client: httpx.AsyncClient, operations: dict[str, str]) -> list[Any]:
    """Each reference read once: (status, data, error codes)."""
    out = []
    for name, variables in READS:
        response = await client.post(
            "/graphql", json={"query": operations[name], "variables": variables}
        )
        body = response.json()
        codes = [e.get("extensions", {}).get("code") for e in body.get("errors", [])]
        out.append((name, response.status_code, body.get("data"), codes))
    return out


async def test_a_killed_master_leaves_every_reference_read_answered_from_postgresql(
    db: Database,
    settings: Settings,
    backend: str,
    operations: dict[str, str],
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    if backend != "postgres":
        pytest.skip("the degraded path is PostgreSQL's")
    require_redis_binaries(request)
    await make_universe(db, 4, 3)
    cluster = RedisCluster(tmp_path)
    cluster.start()
    try:
        update = {"redis_url": cluster.url, "cache_response_enabled": True}
        app = create_app(settings.model_copy(update=update))
        async with serve(app) as client:
            before = await answers(client, operations)
            cached = await answers(client, operations)  # from the cluster now
            resources: Resources = app.state.resources
            assert resources.cache is not None and resources.redis is not None
            hits = resources.cache.stats["response"].hits
            cluster.kill(cluster.ports[1])
            after = [await answers(client, operations) for _ in range(3)]
            ready = await client.get("/readyz")
            opened = resources.redis.breaker.opened
    finally:
        cluster.stop()

    assert [(name, status, codes) for name, status, _, codes in before] == [
        (name, 200, []) for name, _ in READS
    ]
    assert cached == before
    assert hits == len(READS)
    for round_ in after:
        assert round_ == before  # same data, 200, no error, with a master gone
    assert opened >= 1
    assert ready.status_code == 200
