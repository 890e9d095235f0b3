"""Concurrent resolvers never share a database connection."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from app.db import Database
from tests.conftest import graphql
from tests.factories.universe import make_universe


async def test_each_loader_batch_uses_its_own_connection(
    db: Database, client: httpx.AsyncClient, operations: dict[str, str]
) -> None:
    await make_universe(db, 5, 3)
    connections: list[Connection] = []  # held, so no id is reused while the test runs
    in_use: set[int] = set()
    overlaps: list[int] = []

    def on_execute(conn: Connection, *_: Any) -> None:
        key = id(conn)
        if key in in_use:
            overlaps.append(key)
        connections.append(conn)
        in_use.add(key)

    def on_executed(conn: Connection, *_: Any) -> None:
        in_use.discard(id(conn))

    event.listen(Engine, "before_cursor_execute", on_execute)
    event.listen(Engine, "after_cursor_execute", on_executed)
    try:
        body = await graphql(client, operations["StockDetail"], {"symbol": "S000"})
    finally:
        event.remove(Engine, "before_cursor_execute", on_execute)
        event.remove(Engine, "after_cursor_execute", on_executed)
    assert "errors" not in body
    # StockDetail runs four batches (stock, then sentiment, history and mentions concurrently):
    # four statements, each on a connection of its own, none running two at once.
    assert len(connections) == 4
    assert len({id(c) for c in connections}) == 4
    # Reads run in autocommit: no BEGIN/ROLLBACK round trips around the statement.
    assert {c.get_execution_options().get("isolation_level") for c in connections} == {"AUTOCOMMIT"}
    assert overlaps == []
