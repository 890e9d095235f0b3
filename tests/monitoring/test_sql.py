"""Slow SQL: fingerprints without literals, a warning per slow statement, bounded stats."""

from __future__ import annotations

import logging

from sqlalchemy import text

from app.config import Settings
from app.db import Database
from app.main import create_app
from app.monitoring.sql import SqlStats, fingerprint
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
