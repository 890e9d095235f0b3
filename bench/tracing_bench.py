"""MentionFeed with the tracing extension on and off, in one run: the overhead of tracing.

    python -m bench.tracing_bench [--stocks 50] [--mentions 10] [--rounds 7] [--requests 20]

A migrated SQLite database in a temporary folder holds --stocks stocks with --mentions mentions
each (50 x 10 is the reference feed: about 2,000 fields). Two apps are served in-process, one with
TRACE_ENABLED=false; requests alternate between them so drift of the machine hits both alike. The
traced app logs its JSON line for every request (to /dev/null, through the production formatter),
so the figure includes building and writing the line. CPU time (this process's, which serves the
app in-process) is the steadier figure on a shared machine; wall time is printed beside it.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import tempfile
import time
from dataclasses import dataclass, field

import httpx
from fastapi import FastAPI

from app import migrate
from app.config import Settings
from app.db import create_database
from app.logging import JsonFormatter
from app.main import create_app
from bench.config import OPERATIONS_DIR
from tests.factories.universe import make_universe

QUERY_FILE = OPERATIONS_DIR / "MentionFeed.graphql"


def log_to_devnull() -> None:
    handler = logging.StreamHandler(open(os.devnull, "w"))  # kept open for the whole run
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("insitechart")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)


@dataclass(slots=True)
class Timings:
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)


async def time_request(client: httpx.AsyncClient, query: str, timings: Timings) -> None:
    """Wall time, and CPU time of this process (the app is served in-process, so all of it)."""
    wall, cpu = time.perf_counter(), time.process_time()
    response = await client.post("/graphql", json={"query": query})
    timings.wall.append(time.perf_counter() - wall)
    timings.cpu.append(time.process_time() - cpu)
    body = response.json()
    if "errors" in body:
        raise SystemExit(f"MentionFeed failed: {body['errors']}")


async def run(stocks: int, mentions: int, rounds: int, requests: int) -> None:
    query = QUERY_FILE.read_text()
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite+aiosqlite:///{folder}/bench.db"
        db = create_database(Settings(database_url=url))
        await migrate.upgrade(db)
        await make_universe(db, stocks, mentions)
        await db.dispose()

        # Repeated anonymous queries would be answered by the response cache before GraphQL runs,
        # and throttled by the cost budget: turn the one off, make the other too large to bite.
        base = Settings(
            database_url=url,
            app_env="production",
            log_level="info",
            cache_response_enabled=False,
            budget_anonymous_capacity=10**9,
            budget_anonymous_restore_per_s=10**9,
        )
        apps: dict[str, FastAPI] = {
            "tracing off": create_app(base.model_copy(update={"trace_enabled": False})),
            "tracing on": create_app(base),
        }
        log_to_devnull()
        timings = {name: Timings() for name in apps}
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
            for client in clients.values():  # warm pools, caches, code paths
                for _ in range(3):
                    await time_request(client, query, Timings())
            for _ in range(rounds * requests):
                # Alternate request by request, so the machine's drift hits both alike.
                for name, client in clients.items():
                    await time_request(client, query, timings[name])
            for client in clients.values():
                await client.aclose()

    print(f"MentionFeed, {stocks} stocks x {mentions} mentions, {rounds * requests} requests each")
    for name, values in timings.items():
        print(
            f"  {name:12s} wall median {statistics.median(values.wall) * 1000:7.2f} ms"
            f"   CPU median {statistics.median(values.cpu) * 1000:7.2f} ms"
        )
    for kind in ("cpu", "wall"):
        on = statistics.median(getattr(timings["tracing on"], kind))
        off = statistics.median(getattr(timings["tracing off"], kind))
        print(
            f"  overhead of tracing, {kind} medians: {(on / off - 1) * 100:+.1f}%  (target < 10%)"
        )


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
