"""Cold vs warm field cache vs response-cache hit for the reference operations, and the ceiling.

Calls the ASGI application directly (no sockets), so the figures are the server's own cost:
    .venv/bin/python -m bench.cache_bench [--redis redis://127.0.0.1:6379/3] [--database URL]
        [--stocks 100] [--mentions 20] [--requests 200]

Modes, per operation and cache backend (the in-process LRU, and Redis when --redis is given):
  cold      the cache emptied before each request: database reads plus cache writes
  warm      field cache filled, response cache off: parse, validate, execute, one MGET per level
  hit       response cache filled: answered before parsing
  ceiling   a plain FastAPI endpoint returning the same bytes (the floor any hit can reach)
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import orjson
import redis.asyncio as redis
from fastapi import FastAPI
from fastapi.responses import Response

from app import migrate
from app.cache import MemoryBackend
from app.config import Settings
from app.db import create_database
from app.main import create_app
from bench.config import BENCH_BUDGET, OPERATIONS_DIR
from tests.factories.universe import make_universe

VARIABLES: dict[str, dict[str, Any]] = {
    "StockDetail": {"symbol": "S001"},
    "PartnerScores": {"symbols": [f"S{i:03d}" for i in range(20)]},
}
Call = Callable[[], Awaitable[tuple[int, bytes]]]


def asgi_call(app: Any, body: bytes, path: str = "/graphql") -> Call:
    headers = [
        (b"host", b"bench"),
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("bench", 80),
    }

    async def call() -> tuple[int, bytes]:
        messages = [{"type": "http.request", "body": body, "more_body": False}]
        status = 0
        chunks: list[bytes] = []

        async def receive() -> dict[str, Any]:
            return messages.pop() if messages else {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await app(dict(scope), receive, send)
        return status, b"".join(chunks)

    return call


async def timed(call: Call, requests: int, before: Callable[[], Awaitable[None]] | None) -> float:
    """Median microseconds of `requests` calls (`before` runs untimed ahead of each)."""
    samples = []
    for _ in range(requests):
        if before is not None:
            await before()
        start = time.perf_counter()
        status, _ = await call()
        samples.append(time.perf_counter() - start)
        if status != 200:
            raise RuntimeError(f"request failed with {status}")
    return statistics.median(samples) * 1e6


def ceiling_app(payload: bytes) -> FastAPI:
    plain = FastAPI()

    @plain.post("/graphql")
    async def same_bytes() -> Response:
        return Response(payload, media_type="application/json")

    return plain


async def emptier(app: FastAPI, redis_url: str | None, namespace: str) -> Callable[[], Any]:
    cache = app.state.resources.cache

    async def empty() -> None:
        if isinstance(cache.backend, MemoryBackend):
            cache.backend.clear()
            return
        client = cache.backend.client
        keys = [k async for k in client.scan_iter(match=f"{namespace}:*", count=1000)]
        if keys:
            await client.delete(*keys)

    return empty


async def run_backend(
    database_url: str, redis_url: str | None, requests: int
) -> list[tuple[str, dict[str, float]]]:
    namespace = f"bench-{uuid.uuid4().hex[:8]}"
    base: dict[str, Any] = {
        "database_url": database_url,
        "redis_url": redis_url,
        "log_level": "warning",
        "cache_namespace": namespace,
        "cache_warm_on_start": False,
        "cache_warm_interval_s": 0,
        **BENCH_BUDGET,  # thousands of requests from one address: costed and charged, never refused
    }
    field_app = create_app(Settings(**base, cache_response_enabled=False))
    response_app = create_app(Settings(**base, cache_response_enabled=True))
    rows = []
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(field_app.router.lifespan_context(field_app))
        await stack.enter_async_context(response_app.router.lifespan_context(response_app))
        empty = await emptier(field_app, redis_url, namespace)
        for path in sorted(OPERATIONS_DIR.glob("*.graphql")):
            query = path.read_text()
            if not query.lstrip("# \n").startswith("query") and "\nquery " not in query:
                continue
            body = orjson.dumps({"query": query, "variables": VARIABLES.get(path.stem, {})})
            field_call = asgi_call(field_app, body)
            response_call = asgi_call(response_app, body)
            _, payload = await response_call()
            plain = ceiling_app(payload)
            figures = {
                "cold": await timed(field_call, max(requests // 4, 10), empty),
                "warm": await timed(field_call, requests, None),
                "hit": await timed(response_call, requests, None),
                "ceiling": await timed(asgi_call(plain, body), requests, None),
            }
            rows.append((path.stem, figures))
        await empty()
    return rows


def report(backend: str, rows: list[tuple[str, dict[str, float]]]) -> None:
    print(f"\n## {backend}: median microseconds per request")
    print(
        f"{'operation':14} {'cold':>9} {'warm':>9} {'hit':>8} {'ceiling':>8}"
        f" {'cold/warm':>10} {'warm/hit':>9} {'hit/ceil':>9}"
    )
    for name, f in rows:
        print(
            f"{name:14} {f['cold']:9.0f} {f['warm']:9.0f} {f['hit']:8.0f} {f['ceiling']:8.0f}"
            f" {f['cold'] / f['warm']:10.1f} {f['warm'] / f['hit']:9.1f}"
            f" {f['hit'] / f['ceiling']:9.2f}"
        )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--database", help="database URL (default: a temporary SQLite file)")
    parser.add_argument("--redis", help="Redis URL; without it only the in-process LRU runs")
    parser.add_argument("--stocks", type=int, default=100)
    parser.add_argument("--mentions", type=int, default=20)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.database or f"sqlite+aiosqlite:///{folder}/bench.db"
        db = create_database(Settings(database_url=url))
        await migrate.upgrade(db)
        await make_universe(db, args.stocks, args.mentions)
        await db.dispose()
        print(f"{args.stocks} stocks x {args.mentions} mentions on {db.dialect}")
        report("in-process LRU", await run_backend(url, None, args.requests))
        if args.redis:
            probe = redis.Redis.from_url(args.redis)
            await probe.ping()
            await probe.aclose()
            report("Redis", await run_backend(url, args.redis, args.requests))


if __name__ == "__main__":
    asyncio.run(main())
