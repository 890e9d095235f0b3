"""Test fixtures: a freshly migrated database per backend per session, emptied after each test.

SQLite always runs; PostgreSQL runs when TEST_DATABASE_URL is set (a server URL: a throwaway
database is created beside it and dropped at the end), and Redis tests when TEST_REDIS_URL is set.
With --require-services (or INSITECHART_REQUIRE_SERVICES=1, as CI sets) a missing URL fails the
run instead of skipping.
"""

from __future__ import annotations

import asyncio
import gc
import os
import tempfile
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import redis
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.engine import make_url

from app import migrate
from app.config import Settings
from app.db import Database, create_database
from app.main import create_app

BACKENDS = ["sqlite", "postgres"]
TABLES = ("live_events", "sentiment_buckets", "mentions", "stocks", "api_keys")
# Every Redis key the tests write through the app's settings starts with this run's prefix;
# the run deletes them at the end, then fails if any other key without expiry appeared.
RUN_PREFIX = f"test-{uuid.uuid4().hex[:8]}"
METRICS_DIRS = "insitechart-metrics-*"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--require-services",
        action="store_true",
        help="fail instead of skipping when TEST_DATABASE_URL or TEST_REDIS_URL is unset",
    )


def _require(config: pytest.Config, variable: str) -> str:
    value = os.environ.get(variable)
    if value:
        return value
    if config.getoption("--require-services") or os.environ.get("INSITECHART_REQUIRE_SERVICES"):
        pytest.fail(f"{variable} is not set and --require-services was given", pytrace=False)
    pytest.skip(f"{variable} is not set")


async def _create_pg_database(server_url: str) -> str:
    url = make_url(server_url)
    name = f"insitechart_test_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(
        host=url.host,
        port=url.port or 5432,
        user=url.username,
        password=url.password,
        database=url.database or "postgres",
    )
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return url.set(drivername="postgresql+asyncpg", database=name).render_as_string(
        hide_password=False
    )


async def _drop_pg_database(server_url: str, test_url: str) -> None:
    url = make_url(server_url)
    name = make_url(test_url).database
    conn = await asyncpg.connect(
        host=url.host,
        port=url.port or 5432,
        user=url.username,
        password=url.password,
        database=url.database or "postgres",
    )
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
async def database_url(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    """A migrated, empty database for this backend, kept for the whole session."""
    if backend == "sqlite":
        path: Path = tmp_path_factory.mktemp("sqlite") / "insitechart.db"
        url = f"sqlite+aiosqlite:///{path}"
        server = None
    else:
        server = _require(request.config, "TEST_DATABASE_URL")
        url = await _create_pg_database(server)
    db = create_database(Settings(database_url=url))
    await migrate.upgrade(db)
    await db.dispose()
    yield url
    if server is not None:
        await _drop_pg_database(server, url)


@pytest.fixture
def redis_url(request: pytest.FixtureRequest) -> str:
    return _require(request.config, "TEST_REDIS_URL")


@pytest.fixture
def settings(database_url: str) -> Settings:
    # No background cache warming: it would add statements to the counts tests assert.
    return Settings(
        database_url=database_url,
        redis_url=None,
        log_level="warning",
        cache_warm_on_start=False,
        cache_warm_interval_s=0,
        cache_namespace=f"{RUN_PREFIX}-app",
        budget_key_prefix=f"{RUN_PREFIX}-app:budget:",
        mentions_partition_maintenance_s=0,
        # Nor background EXPLAINs of slow statements (a loaded machine makes any statement slow).
        trace_sql_plans=False,
    )


async def empty_tables(db: Database) -> None:
    async with db.engine.begin() as conn:
        if db.dialect == "postgresql":
            # mention_keys: the partitioned schema's idempotency keys (migration 0003).
            tables = ", ".join((*TABLES, "mention_keys"))
            await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        else:
            for table in TABLES:
                await conn.execute(text(f"DELETE FROM {table}"))


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    """The session's database, emptied after the test."""
    database = create_database(settings)
    try:
        yield database
    finally:
        await empty_tables(database)
        await database.dispose()


@asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Run the app's lifespan and give an HTTP client that talks to it in-process."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


@pytest.fixture
async def client(db: Database, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(create_app(settings)) as http:
        yield http


@pytest.fixture
def operations() -> Iterator[dict[str, str]]:
    """The reference operations clients send, read verbatim from the project's operations/."""
    folder = Path(__file__).resolve().parents[1] / "operations"
    if not folder.is_dir():
        pytest.fail(f"the reference operations are missing: {folder}", pytrace=False)
    yield {p.stem: p.read_text() for p in sorted(folder.glob("*.graphql"))}


async def graphql(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None, **headers: str
) -> dict[str, Any]:
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )
    body: dict[str, Any] = response.json()
    return body


_service_tests: dict[str, int] = {"postgres": 0, "redis": 0}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when != "call" or not report.passed:
        return
    if "[postgres" in report.nodeid or "-postgres" in report.nodeid:
        _service_tests["postgres"] += 1
    if "redis" in report.keywords:
        _service_tests["redis"] += 1


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "redis_url" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.redis)


HANG_LOG = Path(tempfile.gettempdir()) / f"insitechart-hang-{os.getpid()}.log"


def _dump_tasks(nodeid: str) -> None:
    """Write every task of every running event loop to HANG_LOG: what a test about to time out
    waits on. pytest captures stderr, and a rerun hides the first attempt's report; the end of
    the run prints the file."""
    with HANG_LOG.open("a") as out:
        print(f"\n=== {nodeid}: close to its timeout; asyncio tasks ===", file=out)
        for loop in [o for o in gc.get_objects() if isinstance(o, asyncio.AbstractEventLoop)]:
            if not loop.is_running():
                continue
            for task in list(asyncio.all_tasks(loop)):
                print(f"--- {task!r}", file=out)
                task.print_stack(limit=12, file=out)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[None]:
    """Shortly before pytest-timeout fails a test, dump its asyncio tasks (a hang's evidence)."""
    timeout = float(item.config.getini("timeout") or 0)
    timer = None
    if timeout > 15:
        timer = threading.Timer(timeout - 10, _dump_tasks, args=(item.nodeid,))
        timer.daemon = True
        timer.start()
    try:
        yield
    finally:
        if timer is not None:
            timer.cancel()


def _persistent_keys(client: redis.Redis) -> set[bytes]:
    """Keys of the test Redis that never expire."""
    return {key for key in client.scan_iter(count=1000) if client.ttl(key) == -1}


_before: dict[str, set[Any]] = {}


def pytest_sessionstart(session: pytest.Session) -> None:
    _before["metrics_dirs"] = set(Path(tempfile.gettempdir()).glob(METRICS_DIRS))
    url = os.environ.get("TEST_REDIS_URL")
    if url:
        with redis.Redis.from_url(url) as client:
            _before["redis_keys"] = _persistent_keys(client)


def leftovers() -> list[str]:
    """What this run left behind: Redis keys without expiry, metrics temp directories."""
    found = [
        f"temp directory {path}"
        for path in set(Path(tempfile.gettempdir()).glob(METRICS_DIRS)) - _before["metrics_dirs"]
    ]
    url = os.environ.get("TEST_REDIS_URL")
    if url and "redis_keys" in _before:
        with redis.Redis.from_url(url) as client:
            mine = list(client.scan_iter(match=f"{RUN_PREFIX}*", count=1000))
            if mine:
                client.delete(*mine)
            new = _persistent_keys(client) - _before["redis_keys"]
        found += [f"Redis key without expiry {key.decode(errors='replace')}" for key in sorted(new)]
    return found


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A run that leaves state behind fails; under CI, so does one without PostgreSQL or Redis."""
    if HANG_LOG.exists():
        print(HANG_LOG.read_text())
        HANG_LOG.unlink()
    if session.config.option.collectonly or "metrics_dirs" not in _before:
        return
    left = leftovers()
    if left:
        print("\nERROR: the tests left behind:\n  " + "\n  ".join(left[:20]))
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    required = session.config.getoption("--require-services") or os.environ.get(
        "INSITECHART_REQUIRE_SERVICES"
    )
    if not required or exitstatus != 0 or session.config.option.collectonly:
        return
    if session.config.args and any("::" in a for a in session.config.args):
        return  # a single test was asked for
    missing = [name for name, passed in _service_tests.items() if passed == 0]
    if missing:
        print(f"\nERROR: no {' and no '.join(missing)} test ran, but services are required")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
