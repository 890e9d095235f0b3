"""Read replicas, against a real streaming replica built on this machine.

Loader reads go to the healthy replica; right after a write they go to the primary (which has
it); a replica that lags or is down is skipped, and taken back once it has recovered.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from app import migrate
from app.config import Settings
from app.db import Database, create_database, watch_statements
from app.ingest import MentionIn, ingest
from app.main import create_app
from app.resources import Resources
from app.timeutil import utcnow
from bench.pgcluster import Pair
from tests.conftest import graphql, serve
from tests.factories.mentions import make_mentions
from tests.factories.stocks import make_stock

DETAIL = """
query {
  stock(symbol: "REPL") { sentiment { mentionCount24h } mentions(first: 50) { nodes { text } } }
}
"""


@pytest.fixture(scope="module")
def pair() -> Iterator[Pair]:
    built = Pair.build()
    try:
        yield built
    finally:
        built.destroy()


@pytest.fixture(scope="module")
async def replicated(pair: Pair) -> AsyncIterator[Pair]:
    """The schema and one stock with a mention on the primary, then the replica cloned."""
    db = create_database(Settings(database_url=pair.primary.url))
    try:
        await migrate.upgrade(db)
        async with db.sessionmaker.begin() as session:
            stock = await make_stock(session, "REPL")
            await make_mentions(session, stock.id, [utcnow() - timedelta(minutes=5)])
    finally:
        await db.dispose()
    pair.clone()
    yield pair


@contextmanager
def ports() -> Iterator[list[int]]:
    """The server port of every statement run, in order."""
    seen: list[int] = []

    def record(engine: Engine, *_: Any) -> None:
        seen.append(int(engine.url.port or 0))

    with watch_statements(record):
        yield seen


async def settle(resources: Resources, healthy: bool) -> None:
    """Run health checks until the replica is (or is not) in use; 20 s at most."""
    assert resources.replicas is not None
    for _ in range(100):
        await resources.replicas.check()
        if resources.replicas.replicas[0].healthy == healthy:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"replica never became healthy={healthy}")


async def detail(client: Any) -> tuple[list[int], dict[str, Any]]:
    with ports() as seen:
        body = await graphql(client, DETAIL)
    assert "errors" not in body, body
    return seen, body["data"]["stock"]


def mention(n: int) -> MentionIn:
    return MentionIn(
        source="NEWS",
        external_id=f"repl-{n}",
        text=f"$REPL news number {n}, strong quarter",
        published_at=utcnow(),
        symbol="REPL",
    )


def replicated_settings(pair: Pair, **overrides: Any) -> Settings:
    """The app on the pair: reads on the replica, no cache, no background work but `overrides`."""
    return Settings(
        database_url=pair.primary.url,
        database_replica_urls=[pair.replica.url],
        replica_check_interval_s=60,  # the tests run the checks themselves
        cache_enabled=False,
        cache_warm_on_start=False,
        cache_warm_interval_s=0,
        mentions_partition_maintenance_s=0,
        **overrides,
    )


async def test_reads_use_the_replica_writes_the_primary_and_a_bad_replica_is_skipped(
    replicated: Pair,
) -> None:
    pair = replicated
    settings = replicated_settings(pair, replica_max_lag_s=1.0)
    app = create_app(settings)
    async with serve(app) as client:
        resources: Resources = app.state.resources
        assert resources.replicas is not None
        replica = resources.replicas.replicas[0]
        await settle(resources, healthy=True)

        # Reads are served by the replica.
        seen, stock = await detail(client)
        assert seen and set(seen) == {pair.replica.port}
        assert len(stock["mentions"]["nodes"]) == 1

        # A write goes to the primary, and the reads right after it see it there.
        result = await ingest(resources, [mention(1)])
        assert result.accepted == 1
        seen, stock = await detail(client)
        assert set(seen) == {pair.primary.port}
        assert len(stock["mentions"]["nodes"]) == 2

        # Replay paused: once the replica is more than a second behind, it is skipped.
        async with replica.db.engine.connect() as conn:
            await conn.execute(text("SELECT pg_wal_replay_pause()"))
        await ingest(resources, [mention(2)])
        await asyncio.sleep(1.5)
        await settle(resources, healthy=False)
        assert replica.lag_s is not None and replica.lag_s > 1.0
        seen, stock = await detail(client)
        assert set(seen) == {pair.primary.port} and len(stock["mentions"]["nodes"]) == 3

        # Replay resumed: caught up, back in use, and it has every write.
        async with replica.db.engine.connect() as conn:
            await conn.execute(text("SELECT pg_wal_replay_resume()"))
        await settle(resources, healthy=True)
        seen, stock = await detail(client)
        assert set(seen) == {pair.replica.port} and len(stock["mentions"]["nodes"]) == 3

        # The replica stopped: skipped, reads on the primary; started again: back in use.
        pair.replica.stop()
        await settle(resources, healthy=False)
        assert replica.error
        seen, _ = await detail(client)
        assert set(seen) == {pair.primary.port}
        pair.replica.start()
        await settle(resources, healthy=True)
        seen, _ = await detail(client)
        assert set(seen) == {pair.replica.port}


def test_replica_urls_read_as_a_comma_separated_list(monkeypatch: pytest.MonkeyPatch) -> None:
    a = "postgresql+asyncpg://postgres@127.0.0.1:5433/x"
    b = "postgresql+asyncpg://postgres@127.0.0.1:5434/x"
    monkeypatch.setenv("DATABASE_REPLICA_URLS", f"{a}, {b}")
    assert Settings().database_replica_urls == [a, b]
    monkeypatch.setenv("DATABASE_REPLICA_URLS", "sqlite+aiosqlite:///r.db")
    with pytest.raises(ValueError, match="DATABASE_REPLICA_URLS"):
        Settings()


async def test_statements_on_the_replica_are_recorded_and_explained_there(
    replicated: Pair,
) -> None:
    pair = replicated
    # Every statement is slow: each shape gets its plan.
    settings = replicated_settings(pair, trace_slow_sql_ms=0.001)
    app = create_app(settings)
    async with serve(app) as client:
        resources: Resources = app.state.resources
        assert resources.replicas is not None and resources.monitor is not None
        plans = resources.monitor.plans
        assert plans is not None and plans.reader is not None
        chosen: list[Database] = []
        reader = plans.reader

        def recording_reader() -> Database:
            chosen.append(reader())
            return chosen[-1]

        plans.reader = recording_reader
        await settle(resources, healthy=True)
        for _ in range(500):  # plans of the start-up's own statements (taken on the primary)
            if not plans._pending:
                break
            await asyncio.sleep(0.01)
        plans.plans.clear()
        chosen.clear()
        seen, _ = await detail(client)
        assert set(seen) == {pair.replica.port}
        for _ in range(500):
            if plans.plans and not plans._pending:
                break
            await asyncio.sleep(0.01)
        shapes = {s.fingerprint for s in resources.monitor.sql.stats.busiest(100)}
    replica = resources.replicas.replicas[0].db
    assert any("FROM stocks" in shape for shape in shapes)  # the replica's reads are recorded
    assert plans.plans, "no plan was captured"
    assert chosen and all(db is replica for db in chosen)  # and explained on the replica
