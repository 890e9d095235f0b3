"""Slow SQL: fingerprints without literals, a warning per slow statement, bounded stats."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from app.config import Settings
from app.db import Database
from app.main import create_app
from app.monitoring.sql import SLOW_SQL_MAX_CHARS, SqlStats, fingerprint
from tests.conftest import serve
from tests.monitoring.conftest import Records


def test_fingerprint_strips_strings_numbers_parameters_and_in_lists() -> None:
    statement = (
        "SELECT s.id, t2.x FROM stocks AS s JOIN t2 ON t2.id = s.id "
        "WHERE s.symbol = 'O''Neil' AND s.score > -0.25 AND s.id IN (1, 2, 3) "
        "AND s.sector = $1::VARCHAR AND s.name = :name AND  s.n = ?\n LIMIT 50"
    )
    assert fingerprint(statement) == (
        "SELECT s.id, t2.x FROM stocks AS s JOIN t2 ON t2.id = s.id "
        "WHERE s.symbol = ? AND s.score > ? AND s.id IN (?+) "
        "AND s.sector = ?::VARCHAR AND s.name = ? AND s.n = ? LIMIT ?"
    )


def test_statements_differing_only_in_literals_share_a_fingerprint() -> None:
    assert fingerprint("SELECT * FROM m WHERE id IN (4, 5)") == fingerprint(
        "SELECT * FROM m WHERE id IN (7, 8, 9, 10)"
    )
    assert fingerprint("SELECT 'a'") == fingerprint("SELECT 'something else'")


def test_stats_keep_count_mean_max_and_stay_bounded() -> None:
    stats = SqlStats(capacity=3)
    for i in range(10):
        stats.record(f"SELECT {i}", 0.001 * (i + 1))
    stats.record("SELECT 9", 0.003)
    assert len(stats) == 3
    by_print = {s.fingerprint: s for s in stats.slowest(10)}
    assert set(by_print) == {"SELECT 7", "SELECT 8", "SELECT 9"}
    nine = by_print["SELECT 9"]
    assert nine.count == 2
    assert nine.max_s == 0.010
    assert abs(nine.mean_s - 0.0065) < 1e-12


async def test_slow_statement_is_logged_with_its_fingerprint_not_its_literals(
    db: Database, settings: Settings, sql_log: Records
) -> None:
    app = create_app(settings.model_copy(update={"trace_slow_sql_ms": 1e-6}))
    async with serve(app):
        database: Database = app.state.resources.db
        async with database.engine.connect() as conn:
            await conn.execute(text("SELECT 'secret-token' AS s, 12345 AS n"))
        stats = app.state.resources.monitor.sql.stats
        slowest = {s.fingerprint: s for s in stats.slowest(100)}
    lines = sql_log.data(logging.WARNING)
    prints = [line["fingerprint"] for line in lines]
    assert "SELECT ? AS s, ? AS n" in prints
    assert not any("secret" in p or "12345" in p for p in prints)
    assert all(line["duration_ms"] > 0 for line in lines)
    assert slowest["SELECT ? AS s, ? AS n"].count == 1


@pytest.fixture
def sql_caplog(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """caplog on `insitechart.sql`, which does not propagate to the root logger."""
    logger = logging.getLogger("insitechart.sql")
    previous = logger.level
    logger.addHandler(caplog.handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield caplog
    finally:
        logger.removeHandler(caplog.handler)
        logger.setLevel(previous)


async def test_cache_warming_statements_are_not_slow_sql_warnings(
    db: Database, settings: Settings, sql_caplog: pytest.LogCaptureFixture
) -> None:
    every_statement_slow = {
        "trace_slow_sql_ms": 1e-6,
        "cache_warm_on_start": True,
        "log_level": "info",
    }
    app = create_app(settings.model_copy(update=every_statement_slow))
    async with serve(app):
        await asyncio.wait_for(app.state.warmer.warmed.wait(), timeout=30)
        database: Database = app.state.resources.db
        async with database.engine.connect() as conn:
            await conn.execute(text("SELECT 1 AS asked_by_a_client"))

    warnings = [r.getMessage() for r in sql_caplog.records if r.levelno >= logging.INFO]
    background = [r for r in sql_caplog.records if "(cache warming)" in r.getMessage()]
    assert len(warnings) == 1, warnings
    assert re.fullmatch(r"slow SQL [\d.]+ ms: SELECT \? AS asked_by_a_client", warnings[0])
    assert background and {r.levelno for r in background} == {logging.DEBUG}


async def test_slow_sql_lines_are_cut_to_a_bounded_length(
    db: Database, settings: Settings, sql_caplog: pytest.LogCaptureFixture
) -> None:
    columns = ", ".join(f"{i} AS column_number_{i}" for i in range(100))
    app = create_app(settings.model_copy(update={"trace_slow_sql_ms": 1e-6}))
    async with serve(app):
        database: Database = app.state.resources.db
        async with database.engine.connect() as conn:
            await conn.execute(text(f"SELECT {columns}"))

    [line] = [r for r in sql_caplog.records if "column_number_0" in r.getMessage()]
    full = fingerprint(f"SELECT {columns}")
    assert len(full) > 2000
    assert len(line.getMessage()) <= SLOW_SQL_MAX_CHARS + 60
    assert line.getMessage().endswith(f"... ({len(full)} chars)")
    assert len(line.data["fingerprint"]) <= SLOW_SQL_MAX_CHARS + 20  # type: ignore[attr-defined]
