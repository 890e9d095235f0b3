"""CPU per request of the peers' operations, in-process, every cache off (or the field cache
alone, `--field-cache redis://...`): steadier than req/s
on a shared machine, since it counts this process's CPU time and not the wait for a core.

Run from the source tree to measure (its modules come first on the path):
`cd TREE && python /path/to/bench/peers/cpu.py [--requests 64] [--concurrency 16]`.
It prints CPU ms and wall ms per request, and the PostgreSQL connections the pool opened.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import time
from typing import Any

sys.path.insert(0, os.getcwd())

import httpx
import uvloop
from sqlalchemy import event
from sqlalchemy.pool import Pool

from app.config import Settings
from app.main import create_app
from bench.config import BenchConfig, bench_settings
from bench.peers.operations import OPERATIONS, operation
from bench.sqlcount import in_process


async def measure(
    requests: int, concurrency: int, only: str | None = None, field_cache: str | None = None
) -> None:
    settings = Settings(
        database_url=BenchConfig.from_env().database_url, redis_url=field_cache,
        log_level="error", app_env="production", cache_enabled=field_cache is not None,
        cache_response_enabled=False, cache_warm_on_start=False, cache_warm_interval_s=0,
        cache_namespace=f"cpu-{os.getpid()}",
    )  # fmt: skip
    opened = [0]

    def on_connect(*_: Any) -> None:
        opened[0] += 1

    event.listen(Pool, "connect", on_connect)
    async with in_process(create_app(bench_settings(settings))) as client:
        for name in [only] if only else OPERATIONS:
            count = requests // 4 if name == "MentionFeed" else requests
            before = opened[0]
            cpu_ms, wall_ms = await per_request(client, name, count, concurrency)
            print(f"{name}: {cpu_ms:.1f} ms CPU, {wall_ms:.1f} ms wall per request "
                  f"(n={count}), {opened[0] - before} connections opened")  # fmt: skip


async def per_request(
    client: httpx.AsyncClient, name: str, count: int, concurrency: int
) -> tuple[float, float]:
    """CPU and wall ms per request of `count` requests, `concurrency` at a time, after 8."""
    op, rng = operation(name, "app"), random.Random(1)

    async def one() -> None:
        body = {"query": op.query, "variables": op.variables(rng, 500)}
        reply = await client.post("/graphql", json=body)
        assert reply.status_code == 200 and "errors" not in reply.json(), reply.text

    for _ in range(8):  # warm: parser and validation caches, pool, prepared statements
        await one()
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(0, count, concurrency):
        await asyncio.gather(*(one() for _ in range(concurrency)))
    return (time.process_time() - cpu) * 1000 / count, (time.perf_counter() - wall) * 1000 / count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=64, help="per operation (MentionFeed: /4)")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--only", choices=OPERATIONS, help="one operation instead of each")
    parser.add_argument("--field-cache", metavar="REDIS_URL", help="with the field cache there")
    args = parser.parse_args()
    uvloop.run(measure(args.requests, args.concurrency, args.only, args.field_cache))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
