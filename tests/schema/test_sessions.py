"""Concurrent resolvers never share a database connection."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from app.db import READ_WATCHERS, Database
from tests.conftest import graphql
from tests.factories.universe import make_universe


class Watch:
    """Every statement's connection, on both read paths, and any connection running two at once."""

    def __init__(self) -> None:
        self.connections: list[Any] = []  # held, so no id is reused while the test runs
        self.in_use: set[int] = set()
        self.overlaps: list[int] = []
        self.in_transaction: list[bool] = []

    def started(self, conn: Any) -> None:
        if id(conn) in self.in_use:
            self.overlaps.append(id(conn))
        self.connections.append(conn)
        self.in_use.add(id(conn))

    def on_execute(self, conn: Connection, *_: Any) -> None:
        self.started(conn)
        # Reads run in autocommit: no BEGIN/ROLLBACK round trips around the statement.
        options = conn.get_execution_options()
        self.in_transaction.append(options.get("isolation_level") != "AUTOCOMMIT")

    def on_executed(self, conn: Connection, *_: Any) -> None:
        self.in_use.discard(id(conn))

    def read_started(self, _db: Database, conn: Any, _sql: str, _params: Sequence[Any]) -> Any:
        self.started(conn)
        self.in_transaction.append(conn.is_in_transaction())
        return conn

    def read_ended(self, conn: Any, _sql: str, _params: Sequence[Any]) -> None:
        self.in_use.discard(id(conn))

    def read_failed(self, conn: Any) -> None:
        self.in_use.discard(id(conn))


async def test_each_loader_batch_uses_its_own_connection(
    db: Database, client: httpx.AsyncClient, operations: dict[str, str]
) -> None:
    await make_universe(db, 5, 3)
    watch = Watch()
    event.listen(Engine, "before_cursor_execute", watch.on_execute)
    event.listen(Engine, "after_cursor_execute", watch.on_executed)
    READ_WATCHERS.append(watch)
    try:
        body = await graphql(client, operations["StockDetail"], {"symbol": "S000"})
    finally:
        READ_WATCHERS.remove(watch)
        event.remove(Engine, "before_cursor_execute", watch.on_execute)
        event.remove(Engine, "after_cursor_execute", watch.on_executed)
    assert "errors" not in body
    # StockDetail runs four batches (stock, then sentiment, history and mentions concurrently):
    # four statements, the three concurrent ones each on a connection of its own, none running
    # two at once, none inside a transaction.
    assert len(watch.connections) == 4
    assert len({id(c) for c in watch.connections[1:]}) == 3
    assert watch.overlaps == []
    assert watch.in_transaction == [False] * 4
