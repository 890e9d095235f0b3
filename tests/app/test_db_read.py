"""The read path to the database: no SSL asked of a local server, no transaction around a read,
and a pool that keeps the connections a burst opened."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import Pool

from app.db import Database, _ssl_args


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
