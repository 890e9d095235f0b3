"""`serverStats`: refused without the admin scope, and the figures of what the worker served."""

from __future__ import annotations

from typing import Any

import httpx

from app.apikeys import create_key
from app.config import Settings
from app.db import Database
from app.main import create_app
from tests.conftest import serve
from tests.factories.universe import make_universe

STATS = """
query Stats {
  serverStats {
    windowSeconds requests requestRate errorRate p50Ms p95Ms p99Ms
    slowestOperations { operation count meanMs maxMs }
    slowestSql { fingerprint count meanMs maxMs }
    caches { type hits misses hitRatio }
    system { cpuPercent rssBytes openFds threads systemMemoryPercent eventLoopLagMs }
  }
}
"""


async def post(client: httpx.AsyncClient, query: str, token: str | None = None) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await client.post("/graphql", json={"query": query}, headers=headers)
    body: dict[str, Any] = response.json()
    return body


async def test_server_stats_is_forbidden_without_the_admin_scope(
    db: Database, client: httpx.AsyncClient
) -> None:
    token, _ = await create_key(db, "partner", scopes=["read", "ingest"])
    for caller in (None, token):
        body = await post(client, STATS, caller)
        assert body["data"] is None
        [error] = body["errors"]
        assert error["extensions"]["code"] == "FORBIDDEN"
        assert error["path"] == ["serverStats"]


async def test_server_stats_reports_the_window_for_an_admin(
    db: Database, settings: Settings, operations: dict[str, str]
) -> None:
    await make_universe(db, 3, 2)
    token, _ = await create_key(db, "ops", scopes=["read", "admin"])
    # No response cache: the repeated MentionFeed must reach the field cache, whose counts follow.
    app = create_app(settings.model_copy(update={"cache_response_enabled": False}))
    async with serve(app) as client:
        for _ in range(3):
            assert "errors" not in await post(client, operations["MentionFeed"])
        bad = await post(client, "query Bad { stocks(first: 0) { nodes { symbol } } }")
        assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
        body = await post(client, STATS, token)
        cache_stats = {
            kind: (s.hits, s.misses)
            for kind, s in app.state.resources.cache.stats.items()
            if s.hits or s.misses
        }
    assert "errors" not in body, body
    stats = body["data"]["serverStats"]

    assert stats["windowSeconds"] == settings.metrics_window_s
    assert stats["requests"] == 4
    assert stats["errorRate"] == 0.25
    assert stats["requestRate"] == 4 / settings.metrics_window_s
    operations_seen = {o["operation"]: o for o in stats["slowestOperations"]}
    assert operations_seen["MentionFeed"]["count"] == 3
    assert operations_seen["Bad"]["count"] == 1
    slowest_max = max(o["maxMs"] for o in stats["slowestOperations"])
    assert 0 < stats["p50Ms"] <= stats["p95Ms"] <= stats["p99Ms"] == slowest_max
    assert any("FROM stocks" in s["fingerprint"] for s in stats["slowestSql"])
    assert all("'" not in s["fingerprint"] for s in stats["slowestSql"])
    # The field cache reports every look-up to the monitor: the same counts as its own stats.
    assert cache_stats, "the repeated MentionFeed should have used the field cache"
    assert {c["type"]: (c["hits"], c["misses"]) for c in stats["caches"]} == cache_stats
    for cache in stats["caches"]:
        assert cache["hitRatio"] == cache["hits"] / (cache["hits"] + cache["misses"])
    assert stats["system"]["rssBytes"] > 0
    assert stats["system"]["threads"] >= 1
    assert 0 <= stats["system"]["systemMemoryPercent"] <= 100
