"""A request's loaded rows and futures are freed when it is answered, not by a full collection."""

from __future__ import annotations

import asyncio
import gc

import httpx

from app.config import Settings
from app.db import Database
from app.main import create_app
from loaders.rows import MentionRow, SentimentRow, StockRow
from tests.conftest import serve
from tests.factories.universe import make_universe

FEED = """{ stocks(first: 5) { nodes { symbol sentiment { label }
  mentions(first: 3) { nodes { text stock { symbol } } } } } }"""


async def test_answered_requests_leave_no_rows_or_futures_for_a_full_collection(
    db: Database, settings: Settings
) -> None:
    await make_universe(db, 5, 3)
    executing = settings.model_copy(update={"cache_response_enabled": False})
    async with serve(create_app(executing)) as client:
        left = await garbage_of(client)
    kept = {kind for kind in left if kind in (StockRow, SentimentRow, MentionRow, asyncio.Future)}
    assert kept == set()


async def garbage_of(client: httpx.AsyncClient) -> list[type]:
    """The types of what 5 answered requests left in reference cycles (after 2 to warm up)."""
    for _ in range(2):  # the worker's first requests warm what lives for the process
        await client.post("/graphql", json={"query": FEED})
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        for _ in range(5):
            answer = await client.post("/graphql", json={"query": FEED})
            assert "errors" not in answer.json()
        gc.collect()
        left = [type(o) for o in gc.garbage]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    return left
