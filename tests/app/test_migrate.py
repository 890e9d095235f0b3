"""Migrations build what the models declare, on both backends, and roll back to nothing."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from app import migrate
from app.config import Settings
from app.db import Database, create_database
from app.models import Base
from tests.conftest import _create_pg_database, _drop_pg_database, _require

TABLES = {"stocks", "mentions", "sentiment_buckets", "api_keys", "live_events"}


@pytest.fixture
async def blank(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[Database]:
    """A database of its own with no table at all."""
    server = None
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'blank.db'}"
    else:
        server = _require(request.config, "TEST_DATABASE_URL")
        url = await _create_pg_database(server)
    db = create_database(Settings(database_url=url))
    try:
        yield db
    finally:
        await db.dispose()
        if server is not None:
            await _drop_pg_database(server, url)


def _of_partitioning(name: str) -> bool:
    """Tables of the partitioned schema (PostgreSQL, 0003) that the models do not declare."""
    return (
        name in ("mention_keys", "mentions_default")
        or re.fullmatch(r"mentions_p\d{8}", name) is not None
    )


def _expected(change: Any) -> bool:
    """A difference the partitioned schema makes on purpose: its tables, and (source,
    external_id) kept unique by mention_keys instead of a constraint on mentions."""
    if not isinstance(change, tuple):
        return False
    kind, obj = change[0], change[1]
    if kind == "remove_table":
        return _of_partitioning(obj.name)
    if kind == "remove_index":
        return _of_partitioning(obj.table.name)
    return bool(kind == "add_constraint" and obj.name == "uq_mentions_source_external_id")


def _schema(connection: Connection) -> dict[str, Any]:
    inspector = inspect(connection)
    tables = {t for t in inspector.get_table_names() if not _of_partitioning(t)}
    indexes = {t: {i["name"] for i in inspector.get_indexes(t)} for t in tables}
    diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    diff = [change for change in diff if not _expected(change)]
    return {"tables": tables, "indexes": indexes, "diff": diff}


async def _inspect(db: Database) -> dict[str, Any]:
    async with db.engine.connect() as conn:
        return await conn.run_sync(_schema)


async def test_upgrade_builds_the_models_and_downgrade_removes_them(blank: Database) -> None:
    await migrate.upgrade(blank)

    schema = await _inspect(blank)
    assert schema["tables"] == TABLES | {"alembic_version"}
    assert schema["diff"] == []
    assert {"ix_mentions_stock_published", "ix_mentions_stock_source_published"} <= schema[
        "indexes"
    ]["mentions"]
    assert "ix_sentiment_buckets_bucket_start" in schema["indexes"]["sentiment_buckets"]

    await migrate.downgrade(blank)
    assert (await _inspect(blank))["tables"] <= {"alembic_version"}

    await migrate.upgrade(blank)
    assert (await _inspect(blank))["tables"] == TABLES | {"alembic_version"}


async def test_downgrade_one_step_removes_only_the_last_revision(blank: Database) -> None:
    await migrate.upgrade(blank)

    await migrate.downgrade(blank, "0003")

    assert (await _inspect(blank))["tables"] == (TABLES - {"live_events"}) | {"alembic_version"}
