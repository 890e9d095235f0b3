"""What a worker keeps after requests: a tracemalloc diff around a run of the read mix.

    .venv/bin/python -m bench.memdiff --redis redis://127.0.0.1:6379/4 \\
        --warmup 3000 --requests 10000

The benchmark's mix (bench/workload.py: the reference operations over the skewed symbols of the
bench seed) runs through the ASGI app in-process; after the warm-up a snapshot is taken, after
the requests another, and the allocation sites that grew most are printed with their tracebacks.
The default database is the bench one (`python -m bench seed`).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import tracemalloc
import uuid

import httpx

from app.config import Settings
from app.main import create_app
from bench.config import BenchConfig, bench_settings, read_operations
from bench.workload import Workload


async def run(args: argparse.Namespace) -> None:
    settings = bench_settings(
        Settings(
            database_url=args.database,
            redis_url=args.redis or None,
            log_level="warning",
            cache_namespace=f"memdiff-{uuid.uuid4().hex[:8]}",
        )
    )
    logging.getLogger("insitechart.trace").setLevel(logging.ERROR)
    workload = Workload(read_operations(), args.stocks, args.seed)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:

            async def burst(count: int) -> None:
                for _ in range(count):
                    request = workload.next()
                    body = {"query": request.query, "variables": request.variables}
                    response = await client.post("/graphql", json=body)
                    response.raise_for_status()

            await burst(args.warmup)
            gc.collect()
            tracemalloc.start(args.frames)
            before = tracemalloc.take_snapshot()
            await burst(args.requests)
            gc.collect()
            after = tracemalloc.take_snapshot()
    grown = after.compare_to(before, "traceback")
    total = sum(stat.size_diff for stat in grown)
    print(f"{args.requests} requests after {args.warmup}: {total / 1024:.0f} KiB retained in all")
    for stat in grown[: args.top]:
        print(f"\n{stat.size_diff / 1024:.0f} KiB in {stat.count_diff} blocks")
        for line in stat.traceback.format()[-8:]:
            print("   ", line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    config = BenchConfig.from_env()
    parser.add_argument("--database", default=config.database_url)
    parser.add_argument("--stocks", type=int, default=500, help="symbols S000.. of the bench seed")
    parser.add_argument("--redis", default=config.redis_url, help="'' for the in-process cache")
    parser.add_argument("--warmup", type=int, default=1500)
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--top", type=int, default=8)
    parser.add_argument(
        "--frames", type=int, default=6, help="traceback depth kept per allocation (slower)"
    )
    parser.add_argument("--seed", type=int, default=7)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
