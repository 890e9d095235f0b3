"""Concurrent resolvers never share a database session."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import event
from sqlalchemy.orm import Session

from app.db import Database
from tests.conftest import graphql
from tests.factories.universe import make_universe


async def test_each_loader_batch_uses_its_own_session(
    db: Database, client: httpx.AsyncClient, operations: dict[str, str]
) -> None:
    await make_universe(db, 5, 3)
    sessions: list[Session] = []  # held, so no id is reused while the test runs
    in_use: set[int] = set()
    overlaps: list[int] = []

    def on_begin(session: Session, transaction: Any, connection: Any) -> None:
        key = id(session)
        sessions.append(session)
        if key in in_use:
            overlaps.append(key)
        in_use.add(key)

    def on_end(session: Session, transaction: Any) -> None:
        in_use.discard(id(session))

    event.listen(Session, "after_begin", on_begin)
    event.listen(Session, "after_transaction_end", on_end)
    try:
        body = await graphql(client, operations["StockDetail"], {"symbol": "S000"})
    finally:
        event.remove(Session, "after_begin", on_begin)
        event.remove(Session, "after_transaction_end", on_end)
    assert "errors" not in body
    # StockDetail runs four batches (stock, then sentiment, history and mentions concurrently):
    # four sessions, none reused while another batch still held it.
    assert len(sessions) == 4
    assert len({id(s) for s in sessions}) == 4
    assert overlaps == []
