"""What hostile documents cost the others: /healthz p99 and a legitimate StockDetail p95 on one
worker, without attackers and then while N clients send the audit's worst documents in a loop.

    .venv/bin/python -m bench.hostile_bench [--duration 20] [--attackers 8] [--port 8460]

One production server (APP_ENV=production, one worker) on a fresh SQLite file seeded with
`insitechart seed --stocks 20 --mentions 5000`; the response cache is off so every StockDetail
executes, and budgets are raised out of reach (as in the other benchmarks: every attacker
comes from 127.0.0.1, and the point is the CPU a refused document costs, not the budget).
The attack runs twice: the same documents repeated (caches of refusals answer them) and each
document made unique with a trailing comment (every one parsed). All phases run in the same
invocation; the report gives each figure and its ratio to the baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from contextlib import suppress
from pathlib import Path

import orjson

from bench.config import PROJECT_ROOT, bench_budget_env, read_operations
from bench.http1 import Http1Pool, HttpError
from bench.stats import percentile

JSON = {"content-type": "application/json"}


def worst_documents() -> list[bytes]:
    """The audit's documents, each refused before it costs: fragments, duplicates, size, tokens."""
    levels = 40
    fragments = " ".join(
        f"fragment F{i} on Stock {{ symbol ...F{i + 1} ...F{i + 1} }}" for i in range(levels)
    )
    bomb = (
        f'query {{ stock(symbol: "AAPL") {{ ...F0 }} }} {fragments} '
        f"fragment F{levels} on Stock {{ symbol }}"
    )
    queries = [
        bomb,
        "{ stocks(first: 1) { nodes { " + "quote { price } " * 490 + "} } }",
        "{ " + "__typename " * 500 + "}",
        "{ __typename }" + " " * 40_000,
        "{ " + "a " * 3000 + "}",
    ]
    return [orjson.dumps({"query": q}) for q in queries]


def run(command: list[str], env: dict[str, str]) -> None:
    subprocess.run(command, env=env, cwd=PROJECT_ROOT, check=True, capture_output=True)


def prepare(env: dict[str, str]) -> None:
    cli = [sys.executable, "-m", "app.cli"]
    run([*cli, "migrate"], env)
    run([*cli, "seed", "--stocks", "20", "--mentions", "5000"], env)


async def wait_up(pool: Http1Pool, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with suppress(HttpError, OSError):
            if (await pool.request("GET", "/healthz")).status == 200:
                return
        await asyncio.sleep(0.2)
    raise TimeoutError("the server did not start")


async def probe(pool: Http1Pool, stop: asyncio.Event, out: list[float]) -> None:
    while not stop.is_set():
        started = time.perf_counter()
        reply = await pool.request("GET", "/healthz")
        out.append((time.perf_counter() - started) * 1000)
        assert reply.status == 200
        await asyncio.sleep(0.01)


async def legit(pool: Http1Pool, body: bytes, stop: asyncio.Event, out: list[float]) -> None:
    while not stop.is_set():
        started = time.perf_counter()
        reply = await pool.post("/graphql", body, JSON)
        out.append((time.perf_counter() - started) * 1000)
        assert reply.status == 200 and b'"errors"' not in reply.body, reply.body[:300]


def varied(body: bytes, n: int) -> bytes:
    """The same document with a unique alias-free suffix, so no cache has seen it."""
    query = orjson.loads(body)["query"]
    return orjson.dumps({"query": f"{query} #{n}"})


async def attack(pool: Http1Pool, documents: list[bytes], stop: asyncio.Event, vary: bool) -> int:
    sent = 0
    while not stop.is_set():
        for body in documents:
            with suppress(HttpError):
                await pool.post("/graphql", varied(body, sent) if vary else body, JSON)
            sent += 1
    return sent


async def phase(
    url: str, stock_detail: bytes, attackers: int, duration_s: float, vary: bool = False
) -> dict[str, float]:
    stop = asyncio.Event()
    healthz: list[float] = []
    details: list[float] = []
    documents = worst_documents()
    async with (
        Http1Pool(url, 1) as probe_pool,
        Http1Pool(url, 1) as legit_pool,
        Http1Pool(url, max(attackers, 1)) as attack_pool,
    ):
        tasks = [
            asyncio.create_task(probe(probe_pool, stop, healthz)),
            asyncio.create_task(legit(legit_pool, stock_detail, stop, details)),
        ]
        attacks = [
            asyncio.create_task(attack(attack_pool, documents, stop, vary))
            for _ in range(attackers)
        ]
        await asyncio.sleep(duration_s)
        stop.set()
        await asyncio.gather(*tasks)
        sent = sum(await asyncio.gather(*attacks))
    healthz.sort()
    details.sort()
    return {
        "healthz_p50_ms": percentile(healthz, 50),
        "healthz_p99_ms": percentile(healthz, 99),
        "stock_detail_p50_ms": percentile(details, 50),
        "stock_detail_p95_ms": percentile(details, 95),
        "stock_detail_per_s": len(details) / duration_s,
        "hostile_per_s": sent / duration_s,
    }


async def measure(url: str, attackers: int, duration_s: float) -> None:
    query = read_operations()["StockDetail"]
    body = orjson.dumps({"query": query, "variables": {"symbol": "AAPL"}})
    async with Http1Pool(url, 1) as pool:
        await wait_up(pool)
    await phase(url, body, 0, 2.0)  # warm-up: caches of parse and validation, the pool
    quiet = await phase(url, body, 0, duration_s)
    repeated = await phase(url, body, attackers, duration_s)
    fresh = await phase(url, body, attackers, duration_s, vary=True)
    print(f"one worker; {attackers} attackers; {duration_s:g} s a phase")
    print(f"{'figure':<22}{'baseline':>10}{'repeated':>10}{'ratio':>7}{'varied':>10}{'ratio':>7}")
    for name, before in quiet.items():
        cells = ""
        for loud in (repeated, fresh):
            ratio = f"{loud[name] / before:.2f}" if before else "-"
            cells += f"{loud[name]:>10.2f}{ratio:>7}"
        print(f"{name:<22}{before:>10.2f}{cells}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per phase")
    parser.add_argument("--attackers", type=int, default=8)
    parser.add_argument("--port", type=int, default=8460)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="hostile-bench-"))
    env = {
        **os.environ,
        **bench_budget_env(),
        "DATABASE_URL": f"sqlite+aiosqlite:///{folder / 'bench.db'}",
        "APP_ENV": "production",
        "LOG_LEVEL": "warning",
        "CACHE_RESPONSE_ENABLED": "false",
        "CACHE_WARM_ON_START": "false",
    }
    env.pop("REDIS_URL", None)
    prepare(env)
    command = [sys.executable, "-m", "app.cli", "serve", "--port", str(args.port), "--workers", "1"]
    server = subprocess.Popen(command, env=env, cwd=PROJECT_ROOT, stderr=subprocess.DEVNULL)
    try:
        asyncio.run(measure(f"http://127.0.0.1:{args.port}", args.attackers, args.duration))
    finally:
        server.terminate()
        server.wait(timeout=15)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
