"""Cost per ingest batch of writing its events to the outbox, against publishing them after commit.

Three ways to store the same batches, interleaved round by round on one database:
- `store`: the mentions and buckets only (no events at all);
- `after-commit`: the path before issue 19, the transaction, then the two reads that build the
  events in a new session after the commit (the step a fault between commit and read could lose);
- `outbox`: the durable path, the two reads, the advisory lock and the outbox insert inside the
  transaction (app/realtime/outbox.py).

    python -m bench.outbox_bench --database-url postgresql+asyncpg://postgres@127.0.0.1/bench19
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from app import migrate
from app.config import Settings
from app.db import Database, create_database
from app.models import Stock
from app.realtime.events import build_events
from app.realtime.outbox import write_events
from app.sentiment import score_text
from app.store import store_mentions
from app.timeutil import utcnow

Way = Callable[[Database, list[dict[str, Any]]], Awaitable[None]]


async def store_only(db: Database, rows: list[dict[str, Any]]) -> None:
    async with db.sessionmaker.begin() as session:
        await store_mentions(session, rows)


async def after_commit(db: Database, rows: list[dict[str, Any]]) -> None:
    async with db.sessionmaker.begin() as session:
        stored = await store_mentions(session, rows)
    async with db.sessionmaker() as session:
        await build_events(session, stored)


async def outbox(db: Database, rows: list[dict[str, Any]]) -> None:
    async with db.sessionmaker.begin() as session:
        stored = await store_mentions(session, rows)
        await write_events(session, stored)


WAYS: dict[str, Way] = {"store": store_only, "after-commit": after_commit, "outbox": outbox}


def batch(stock_id: int, tag: str, size: int) -> list[dict[str, Any]]:
    published = utcnow() - timedelta(minutes=5)
    rows = []
    for i in range(size):
        text = f"$AAPL looks strong today {i}"
        score = score_text(text)
        rows.append(
            {
                "stock_id": stock_id,
                "source": "NEWS",
                "external_id": f"{tag}-{i}",
                "author": None,
                "text": text,
                "url": None,
                "published_at": published,
                "compound": score.compound,
                "positive": score.positive,
                "neutral": score.neutral,
                "negative": score.negative,
            }
        )
    return rows


async def run(database_url: str, sizes: list[int], rounds: int) -> None:
    db = create_database(Settings(database_url=database_url))
    await migrate.upgrade(db)
    async with db.sessionmaker.begin() as session:
        stock = Stock(symbol="AAPL", name="Apple Inc.")
        session.add(stock)
    print(f"{'batch':>5} {'way':>13} {'median ms':>10} {'p95 ms':>8} {'vs store':>9}")
    for size in sizes:
        times: dict[str, list[float]] = {name: [] for name in WAYS}
        for r in range(rounds):
            for name, way in WAYS.items():
                rows = batch(stock.id, f"{size}-{r}-{name}", size)
                started = time.perf_counter()
                await way(db, rows)
                times[name].append((time.perf_counter() - started) * 1000)
        base = statistics.median(times["store"])
        for name, values in times.items():
            values.sort()
            median = statistics.median(values)
            p95 = values[int(0.95 * (len(values) - 1))]
            print(f"{size:>5} {name:>13} {median:>10.2f} {p95:>8.2f} {median / base:>8.2f}x")
    await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True, help="an empty database to migrate")
    parser.add_argument("--sizes", default="1,10,100,500")
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    asyncio.run(run(args.database_url, sizes, args.rounds))


if __name__ == "__main__":
    main()
