"""The read path to the database: no SSL asked of a local server, no transaction around a read,
and a pool that keeps the connections a burst opened."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import asyncpg
import pytest
from sqlalchemy import Float, Integer, String, bindparam, cast, event, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import Pool

from app.config import Settings
from app.db import Database, LeanRecord, _ssl_args, create_database


def test_a_loopback_server_is_reached_without_ssl_unless_the_url_asks() -> None:
    assert _ssl_args(make_url("postgresql+asyncpg://u@127.0.0.1:5432/x")) == {"ssl": False}
    assert _ssl_args(make_url("postgresql+asyncpg://u@localhost/x")) == {"ssl": False}
    assert _ssl_args(make_url("postgresql+asyncpg://u@127.0.0.1/x?ssl=require")) == {}
    assert _ssl_args(make_url("postgresql+asyncpg://u@db.internal:5432/x")) == {}


async def test_each_read_statement_is_its_own_transaction(db: Database) -> None:
    if db.dialect != "postgresql":
        pytest.skip("now() is the transaction's start on PostgreSQL")
    async with db.read() as conn:
        first = (await conn.execute(text("SELECT now()"))).scalar_one()
        await asyncio.sleep(0.01)
        second = (await conn.execute(text("SELECT now()"))).scalar_one()
    # Inside a BEGIN both would be the same instant.
    assert second > first


async def test_a_burst_of_reads_within_the_pool_size_reconnects_nothing_the_second_time(
    db: Database,
) -> None:
    if db.dialect != "postgresql":
        pytest.skip("SQLite's pool is not sized")
    connects: list[Any] = []

    def on_connect(*_: Any) -> None:
        connects.append(1)

    async def read() -> None:
        async with db.read() as conn:
            await conn.execute(text("SELECT pg_sleep(0.02)"))

    event.listen(Pool, "connect", on_connect)
    try:
        await asyncio.gather(*(read() for _ in range(24)))
        opened = len(connects)
        await asyncio.gather(*(read() for _ in range(24)))
    finally:
        event.remove(Pool, "connect", on_connect)
    assert opened == 24
    assert len(connects) == opened


async def _sent_on_checkout(db: Database) -> list[str]:
    """What a checkout of the pooled connection just used sends to the server before the read."""
    async with db.read() as conn:
        asyncpg_conn: Any = (await conn.get_raw_connection()).driver_connection
        await conn.execute(text("SELECT 1"))
    sent: list[str] = []

    def log(record: Any) -> None:
        sent.append(record.query)

    asyncpg_conn.add_query_logger(log)
    try:
        async with db.read() as conn:
            assert id((await conn.get_raw_connection()).driver_connection) == id(asyncpg_conn)
            sent.append("-- read")
            await conn.execute(text("SELECT 1"))
    finally:
        asyncpg_conn.remove_query_logger(log)
    return sent


async def test_a_connection_in_steady_use_is_checked_out_without_a_round_trip(
    settings: Settings,
) -> None:
    if not settings.database_url.startswith("postgresql"):
        pytest.skip("the pool check is PostgreSQL's")
    db = create_database(settings)
    try:
        sent = await _sent_on_checkout(db)
    finally:
        await db.dispose()
    assert sent[0] == "-- read", sent  # no BEGIN, ping or ROLLBACK before the read


async def test_a_connection_idle_past_the_limit_is_pinged_first(settings: Settings) -> None:
    if not settings.database_url.startswith("postgresql"):
        pytest.skip("the pool check is PostgreSQL's")
    db = create_database(settings.model_copy(update={"db_pool_ping_idle_s": 0.0}))
    try:
        sent = await _sent_on_checkout(db)
    finally:
        await db.dispose()
    assert sent.index("-- read") > 0 and ";" in sent[: sent.index("-- read")], sent


async def test_a_connection_the_server_closed_is_replaced_before_a_read_uses_it(
    settings: Settings,
) -> None:
    if not settings.database_url.startswith("postgresql"):
        pytest.skip("the pool check is PostgreSQL's")
    db = create_database(settings.model_copy(update={"db_pool_size": 1}))
    try:
        async with db.read() as conn:
            pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        # Another connection than the pool's only one ends it, as a server restart would.
        killer = await asyncpg.connect(settings.database_url.replace("+asyncpg", ""))
        try:
            await killer.execute("SELECT pg_terminate_backend($1)", pid)
        finally:
            await killer.close()
        await asyncio.sleep(0.2)  # asyncpg learns of the close when the loop reads the socket
        async with db.read() as conn:
            again = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
    finally:
        await db.dispose()
    assert again != pid


TAG = select(cast(bindparam("tag"), String).label("tag"))
SLEEP = select(
    func.pg_sleep(bindparam("seconds", type_=Float)),
    cast(bindparam("tag"), String).label("tag"),
    func.pg_backend_pid().label("pid"),
)


class Seen:
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def read_started(self, _db: Database, _conn: Any, sql: str, params: Sequence[Any]) -> str:
        self.events.append(("started", sql))
        return sql

    def read_ended(self, started: str, _sql: str, params: Sequence[Any]) -> None:
        self.events.append(("ended", started))

    def read_failed(self, started: str) -> None:
        self.events.append(("failed", started))


async def test_a_lean_read_is_compiled_once_and_watched(settings: Settings) -> None:
    db = create_database(settings)
    seen = Seen()
    db.watchers.append(seen)
    try:
        first = await db.fetch(TAG, {"tag": "a"})
        second = await db.fetch(TAG, {"tag": "b"})
    finally:
        await db.dispose()
    assert [r.tag for r in (*first, *second)] == ["a", "b"]  # attribute access on both paths
    if db.dialect == "postgresql":
        assert len(db._lean) == 1  # compiled once, run twice
        assert [kind for kind, _ in seen.events] == ["started", "ended"] * 2
        assert "$1" in seen.events[0][1]


async def test_a_cancelled_lean_read_gives_its_connection_back_closed(settings: Settings) -> None:
    if not settings.database_url.startswith("postgresql"):
        pytest.skip("the lean path is PostgreSQL's")
    db = create_database(settings.model_copy(update={"db_pool_size": 1}))
    seen = Seen()
    db.watchers.append(seen)
    try:
        (before,) = await db.fetch(SLEEP, {"seconds": 0, "tag": "before"})
        slow = asyncio.ensure_future(db.fetch(SLEEP, {"seconds": 5, "tag": "slow"}))
        await asyncio.sleep(0.2)
        slow.cancel()
        with pytest.raises(asyncio.CancelledError):
            await slow
        # The pool's only connection was mid-statement: it is replaced, not handed out busy.
        again = await asyncio.wait_for(db.fetch(SLEEP, {"seconds": 0, "tag": "next"}), 3)
    finally:
        await db.dispose()
    assert [r.tag for r in again] == ["next"]
    assert again[0].pid != before.pid  # a new connection: the cancelled one was closed
    kinds = [kind for kind, _ in seen.events]
    assert kinds == ["started", "ended", "started", "failed", "started", "ended"]


COLUMNS = text(
    "SELECT 1 AS id, 'x' AS label, 2 AS keys, 3 AS twice, 4 AS twice, 5 AS \"not a name\""
).columns(id=Integer(), label=String())


async def test_after_its_first_rows_a_lean_statement_reads_its_columns_as_properties(
    settings: Settings,
) -> None:
    if not settings.database_url.startswith("postgresql"):
        pytest.skip("the lean path is PostgreSQL's")
    db = create_database(settings)
    try:
        first = await db.fetch(COLUMNS, {})
        second = await db.fetch(COLUMNS, {})
    finally:
        await db.dispose()
    assert type(first[0]) is LeanRecord  # the names are learnt from the first rows
    row = second[0]
    columns = type(row).__dict__
    assert isinstance(columns["id"], property) and isinstance(columns["label"], property)
    assert (row.id, row.label) == (first[0].id, first[0].label) == (1, "x")
    # Record's own names and repeated names are read as LeanRecord reads them, by name
    assert "keys" not in columns and "twice" not in columns
    assert callable(row.keys) and row["keys"] == 2
    assert row.twice == first[0].twice == row["twice"]
    assert row["not a name"] == 5
    with pytest.raises(AttributeError):
        _ = row.missing
