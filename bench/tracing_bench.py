"""MentionFeed with the tracing extension on and off, in one run: the overhead of tracing.

    python -m bench.tracing_bench [--stocks 50] [--mentions 10] [--rounds 7] [--requests 20]

A migrated SQLite database in a temporary folder holds --stocks stocks with --mentions mentions
each (50 x 10 is the reference feed: about 2,000 fields). Two apps are served in-process, one with
TRACE_ENABLED=false; rounds alternate between them so drift of the machine hits both alike. The
traced app logs its JSON line for every request (to /dev/null, through the production formatter),
so the figure includes building and writing the line.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from fastapi import FastAPI

from app import migrate
from app.config import Settings
from app.db import create_database
from app.logging import JsonFormatter
from app.main import create_app
from tests.factories.universe import make_universe

QUERY_FILE = Path(__file__).resolve().parents[2] / "shared" / "operations" / "MentionFeed.graphql"


def log_to_devnull() -> None:
    handler = logging.StreamHandler(open(os.devnull, "w"))  # kept open for the whole run
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("insitechart")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)


async def time_requests(client: httpx.AsyncClient, query: str, requests: int) -> list[float]:
    timings = []
    for _ in range(requests):
        started = time.perf_counter()
        response = await client.post("/graphql", json={"query": query})
        timings.append(time.perf_counter() - started)
        body = response.json()
        if "errors" in body:
            raise SystemExit(f"MentionFeed failed: {body['errors']}")
    return timings


async def run(stocks: int, mentions: int, rounds: int, requests: int) -> None:
    query = QUERY_FILE.read_text()
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite+aiosqlite:///{folder}/bench.db"
        db = create_database(Settings(database_url=url))
        await migrate.upgrade(db)
        await make_universe(db, stocks, mentions)
        await db.dispose()

        base = Settings(database_url=url, app_env="production", log_level="info")
        apps: dict[str, FastAPI] = {
            "tracing off": create_app(base.model_copy(update={"trace_enabled": False})),
            "tracing on": create_app(base),
        }
        log_to_devnull()
        timings: dict[str, list[float]] = {name: [] for name in apps}
        async with (
            apps["tracing off"].router.lifespan_context(apps["tracing off"]),
            apps["tracing on"].router.lifespan_context(apps["tracing on"]),
        ):
            clients = {
                name: httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=app), base_url="http://bench"
                )
                for name, app in apps.items()
            }
            for client in clients.values():
                await time_requests(client, query, 3)  # warm pools, caches, code paths
            for _ in range(rounds):
                for name, client in clients.items():
                    timings[name] += await time_requests(client, query, requests)
            for client in clients.values():
                await client.aclose()

    print(f"MentionFeed, {stocks} stocks x {mentions} mentions, {rounds} x {requests} requests")
    medians = {}
    for name, values in timings.items():
        medians[name] = statistics.median(values)
        p95 = statistics.quantiles(values, n=20)[18]
        print(f"  {name:12s} median {medians[name] * 1000:7.2f} ms   p95 {p95 * 1000:7.2f} ms")
    overhead = (medians["tracing on"] / medians["tracing off"] - 1) * 100
    print(f"  overhead of tracing (medians): {overhead:+.1f}%  (target < 10%)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stocks", type=int, default=50)
    parser.add_argument("--mentions", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=20)
    args = parser.parse_args()
    asyncio.run(run(args.stocks, args.mentions, args.rounds, args.requests))


if __name__ == "__main__":
    main()
