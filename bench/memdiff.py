"""What a worker keeps after requests: a tracemalloc diff around a run of the read mix.

    .venv/bin/python -m bench.memdiff --database sqlite+aiosqlite:///./insitechart.db \\
        --redis redis://127.0.0.1:6379/4 --warmup 1500 --requests 4000

The mix (StockDetail, StockList, Trending, PartnerScores over a few symbols, read verbatim from
../shared/operations) runs through the ASGI app in-process; after the warm-up a snapshot is taken,
after the requests another, and the allocation sites that grew most are printed with their
tracebacks. Use a database with data (`insitechart seed`).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import random
import tracemalloc
import uuid
from pathlib import Path

import httpx

from app.config import Settings
from app.main import create_app
from bench.config import bench_settings

OPERATIONS = ("StockDetail", "StockList", "Trending", "PartnerScores")
SYMBOLS = ("AAPL", "MSFT", "NVDA", "TSLA", "AMZN", "META", "GOOGL", "AMD", "F", "LOW")


def read_operations() -> dict[str, str]:
    folder = Path(__file__).resolve().parents[2] / "shared" / "operations"
    return {name: (folder / f"{name}.graphql").read_text() for name in OPERATIONS}


def variables(name: str, rng: random.Random) -> dict[str, object]:
    if name == "StockDetail":
        return {"symbol": rng.choice(SYMBOLS)}
    if name == "PartnerScores":
        return {"symbols": rng.sample(SYMBOLS, 3)}
    return {}


async def run(args: argparse.Namespace) -> None:
    settings = bench_settings(
        Settings(
            database_url=args.database,
            redis_url=args.redis,
            log_level="warning",
            cache_namespace=f"memdiff-{uuid.uuid4().hex[:8]}",
        )
    )
    logging.getLogger("insitechart.trace").setLevel(logging.ERROR)
    operations = read_operations()
    rng = random.Random(args.seed)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:

            async def burst(count: int) -> None:
                for _ in range(count):
                    name = rng.choice(OPERATIONS)
                    body = {"query": operations[name], "variables": variables(name, rng)}
                    response = await client.post("/graphql", json=body)
                    response.raise_for_status()

            await burst(args.warmup)
            gc.collect()
            tracemalloc.start(25)
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
    parser.add_argument("--database", default="sqlite+aiosqlite:///./insitechart.db")
    parser.add_argument("--redis", default=None, help="Redis URL (default: in-process cache)")
    parser.add_argument("--warmup", type=int, default=1500)
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--top", type=int, default=8)
    parser.add_argument("--seed", type=int, default=7)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
