"""`python -m bench.peers.hits`: the response cache's hit path under load, from the current tree.

One worker on the bench database with Redis and the response cache, one operation sent
anonymously (so every request may be a hit) by 16 keep-alive connections for `--seconds`:
it prints how many answers were hits and misses (and at which second the misses came, to see an
expiry's stampede), req/s, and the server's CPU per request. With `--profile FILE`, py-spy (when
on the PATH) records the server meanwhile in its raw format. Run it in two trees, alternating,
to compare a change (`cd TREE && python -m bench.peers.hits`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import orjson
import psutil
import uvloop

from bench.config import BenchConfig
from bench.loadgen import client_for
from bench.peers.operations import OPERATIONS, operation
from bench.server import server_env

HEADERS = {"content-type": "application/json"}


def start_server(port: int, redis_url: str) -> subprocess.Popen[bytes]:
    env = {
        **server_env(BenchConfig.from_env()),
        "REDIS_URL": redis_url,
        "PYTHONPATH": os.getcwd(),
        "CACHE_RESPONSE_ENABLED": "true",
        "CACHE_WARM_ON_START": "false",
    }
    log = Path(f"/tmp/bench-hits-{port}.log").open("wb")
    command = [sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    server = subprocess.Popen(command, env=env, stdout=log, stderr=log, cwd=os.getcwd())
    for _ in range(150):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/livez").status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    server.terminate()
    raise SystemExit(f"the server did not start; see /tmp/bench-hits-{port}.log")


async def drive(
    url: str, body: bytes, seconds: float, concurrency: int
) -> tuple[Counter[str], list[int]]:
    """Send `body` from `concurrency` connections for `seconds`: x-cache counts, miss seconds."""
    seen: Counter[str] = Counter()
    misses: list[int] = []
    started = time.perf_counter()
    deadline = started + seconds
    async with client_for(url, concurrency) as client:

        async def worker() -> None:
            while time.perf_counter() < deadline:
                reply = await client.post("/graphql", body, HEADERS)
                if reply.status != 200:
                    seen[f"HTTP {reply.status}"] += 1
                    continue
                cache = reply.headers.get("x-cache", "none")
                seen[cache] += 1
                if cache == "MISS":
                    misses.append(int(time.perf_counter() - started))

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return seen, misses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--operation", choices=OPERATIONS, default="StockList")
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--port", type=int, default=8123)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/9")
    parser.add_argument("--profile", help="write a py-spy raw profile of the server here")
    args = parser.parse_args()
    server = start_server(args.port, args.redis_url)
    url = f"http://127.0.0.1:{args.port}"
    try:
        op = operation(args.operation, "insitechart")
        body = orjson.dumps({"query": op.query, "variables": op.variables(random.Random(1), 500)})
        for _ in range(2):  # store the entry, then see it hit
            httpx.post(url + "/graphql", content=body, headers=HEADERS, timeout=60)
        spy = None
        if args.profile and shutil.which("py-spy"):
            spy = subprocess.Popen(
                ["py-spy", "record", "-p", str(server.pid), "-d", str(int(args.seconds)),
                 "-r", "250", "-f", "raw", "-o", args.profile],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
        process = psutil.Process(server.pid)
        before = process.cpu_times()
        started = time.perf_counter()
        seen, misses = uvloop.run(drive(url, body, args.seconds, args.concurrency))
        wall = time.perf_counter() - started
        after = process.cpu_times()
        if spy is not None:
            spy.wait()
        answered = sum(seen.values())
        cpu_s = (after.user + after.system) - (before.user + before.system)
        print(
            f"{args.operation}: {dict(seen)}; misses at seconds {sorted(Counter(misses).items())}"
        )
        print(f"{answered / wall:.1f} req/s, server CPU {1000 * cpu_s / answered:.3f} ms a request")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
