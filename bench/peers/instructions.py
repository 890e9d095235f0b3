"""Instructions per executed request, counted by callgrind: a figure contention does not move.

`cd TREE && python /path/to/bench/peers/instructions.py OPERATION` runs the app of the source tree
TREE (its modules first on the path) in-process on the bench database, with the field cache on
Redis (`--no-cache`: every cache off), under `valgrind --tool=callgrind` twice: warm-up and N1
requests, then warm-up and N2; the difference over N2 - N1 is the cost of one request (server and
in-process client), the start-up cancelling out. Needs valgrind (`apt-get install valgrind`).
Two trees can run at once: the counts do not depend on the machine's load.

`--stocks 4` draws StockDetail's symbols among 4 (met in the warm-up: no field-cache misses).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, os.getcwd())

WARMUP = 12


async def drive(name: str, count: int, stocks: int, cached: bool) -> None:
    from app.config import Settings
    from app.main import create_app
    from bench.config import BenchConfig, bench_settings
    from bench.peers.operations import operation
    from bench.sqlcount import in_process

    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/5")
    settings = Settings(
        database_url=BenchConfig.from_env().database_url,
        redis_url=redis_url if cached else None, log_level="error", app_env="production",
        cache_enabled=cached, cache_response_enabled=False, cache_warm_on_start=False,
        cache_warm_interval_s=0, cache_namespace="instructions",
    )  # fmt: skip
    async with in_process(create_app(bench_settings(settings))) as client:
        op, rng = operation(name, "app"), random.Random(1)

        async def one() -> None:
            body = {"query": op.query, "variables": op.variables(rng, stocks)}
            reply = await client.post(
                "/graphql", json=body, headers={"accept-encoding": "identity"}
            )
            assert reply.status_code == 200 and b'"errors"' not in reply.content, reply.text

        for _ in range(WARMUP):
            await one()
        for _ in range(count // 4):
            await asyncio.gather(*(one() for _ in range(4)))


def counted(args: argparse.Namespace, count: int) -> int:
    """Instructions of one process that warms up and then sends `count` requests."""
    with tempfile.TemporaryDirectory() as directory:
        out = Path(directory) / "callgrind.out"
        command = [
            "valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable,
            __file__, args.operation, "--drive", str(count), "--stocks", str(args.stocks),
        ] + (["--no-cache"] if args.no_cache else [])  # fmt: skip
        run = subprocess.run(
            command, env={**os.environ, "PYTHONHASHSEED": "0"}, capture_output=True, text=True
        )
        match = re.search(r"Collected : (\d+)", run.stderr)
        if run.returncode != 0 or match is None:
            raise SystemExit(f"callgrind run failed:\n{run.stderr[-2000:]}")
        return int(match.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("operation", choices=["MentionFeed", "StockList", "StockDetail"])
    parser.add_argument("--n1", type=int, default=8)
    parser.add_argument("--n2", type=int, default=72, help="MentionFeed: 24 is enough")
    parser.add_argument("--stocks", type=int, default=500)
    parser.add_argument("--no-cache", action="store_true")
    parser.add_argument("--drive", type=int, help=argparse.SUPPRESS)  # the measured process
    args = parser.parse_args()
    if args.drive is not None:
        asyncio.run(drive(args.operation, args.drive, args.stocks, not args.no_cache))
        return 0
    first, second = counted(args, args.n1), counted(args, args.n2)
    per_request = (second - first) / (args.n2 - args.n1)
    print(f"{args.operation}: {per_request / 1e6:.2f} M instructions per request "
          f"({os.getcwd()}; {args.n1} and {args.n2} requests after {WARMUP})")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
