"""A private, freshly migrated PostgreSQL database per test (partition tests change the schema)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from app import migrate
from app.config import Settings
from app.db import Database, create_database
from tests.conftest import _create_pg_database, _drop_pg_database, _require


@pytest.fixture
async def pg_url(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """An empty database on the test server, at no revision yet; dropped after the test."""
    server = _require(request.config, "TEST_DATABASE_URL")
    url = await _create_pg_database(server)
    yield url
    await _drop_pg_database(server, url)


@pytest.fixture
async def pdb(pg_url: str) -> AsyncIterator[Database]:
    """The private database migrated to head: mentions partitioned by week."""
    db = create_database(Settings(database_url=pg_url))
    await migrate.upgrade(db)
    try:
        yield db
    finally:
        await db.dispose()
