"""Write a batch of mention rows: retried on transient failures, split when the database refuses it.

A deadlock, a serialization failure or a lost connection is retried a bounded number of times
with a short, jittered backoff; the rows are idempotent (source, external_id), so a retry after a
commit whose answer was lost stores nothing twice. A batch the database refuses (a value it cannot
store) is halved until each refused row stands alone; the other rows are stored.

Rows are written in (source, external_id) order and buckets in (stock, bucket) order, so batches
that overlap take their row locks in one global order: they wait for each other, never deadlock.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from app.db import Database
from app.dbfaults import MESSAGES, REFUSED, DatabaseFault, classify, is_transient, sqlstate
from app.realtime.outbox import write_events
from app.store import StoredMention, store_mentions

log = logging.getLogger("insitechart.ingest")

BACKOFF_BASE_S = 0.05


@dataclass(slots=True)
class Written:
    stored: list[StoredMention] = field(default_factory=list)
    # (position in the rows given, SQLSTATE or None) for each row the database refused
    refused: list[tuple[int, str | None]] = field(default_factory=list)


async def _attempt(db: Database, rows: Sequence[dict[str, Any]]) -> list[StoredMention]:
    async with db.sessionmaker.begin() as session:
        stored = await store_mentions(session, rows)
        # The events commit with the rows they announce, or not at all (app/realtime/outbox.py).
        await write_events(session, stored)
        return stored


async def _with_retries(
    db: Database, rows: Sequence[dict[str, Any]], attempts: int
) -> list[StoredMention]:
    """Store `rows` in one transaction, retrying transient failures; raise DatabaseFault."""
    for attempt in range(1, attempts + 1):
        try:
            return await _attempt(db, rows)
        except Exception as exc:
            code = classify(exc)
            if code is None or code == REFUSED:
                raise
            if not is_transient(code) or attempt == attempts:
                raise DatabaseFault(code, MESSAGES[code]) from exc
            delay = BACKOFF_BASE_S * 2 ** (attempt - 1) * (0.5 + random.random())
            log.info("ingest: %s on attempt %d, retrying in %.0f ms", code, attempt, delay * 1000)
            await asyncio.sleep(delay)
    raise AssertionError("unreachable")  # the loop returns or raises


async def write_rows(db: Database, rows: Sequence[dict[str, Any]], attempts: int = 4) -> Written:
    """Store `rows`; report the positions of rows the database refused instead of failing all."""
    written = Written()
    order = sorted(range(len(rows)), key=lambda i: (rows[i]["source"], rows[i]["external_id"]))
    ordered = [rows[i] for i in order]
    pending: list[tuple[int, int]] = [(0, len(rows))] if rows else []
    while pending:
        start, stop = pending.pop()
        try:
            written.stored += await _with_retries(db, ordered[start:stop], attempts)
        except DatabaseFault as fault:
            fault.stored = written.stored
            raise
        except Exception as exc:
            if classify(exc) != REFUSED:
                raise
            if stop - start == 1:
                written.refused.append((order[start], sqlstate(exc)))
                continue
            middle = (start + stop) // 2
            pending += [(middle, stop), (start, middle)]
    written.refused.sort()
    return written
