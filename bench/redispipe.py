"""CPU per Redis command, redis-py's client as the worker configures it against the worker's pipe.

    .venv/bin/python -m bench.redispipe [--redis redis://127.0.0.1:6379/4] [--calls 4800]

16 callers at a time send a script call (EVALSHA, as a response-cache hit and a budget charge do)
and an MGET of 50 keys (a field-cache read of a list), alternating the two clients twice; the
figure is this process's CPU time per call, which a shared machine disturbs less than wall time.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import uvloop

from app.redis_pipe import RedisPipe
from app.redis_shared import connect
from bench.config import BenchConfig

SCRIPT = "return redis.call('GET', KEYS[1])"
CONCURRENCY = 16


async def cpu_us(call: Callable[[], Awaitable[Any]], calls: int) -> float:
    for _ in range(100):
        await call()
    started = time.process_time()
    for _ in range(calls // CONCURRENCY):
        await asyncio.gather(*(call() for _ in range(CONCURRENCY)))
    return (time.process_time() - started) * 1e6 / calls


async def run(url: str, calls: int) -> None:
    client = connect(url, timeout_ms=40, max_connections=32)
    pipe = RedisPipe.for_url(url, 0.04, 0.5)
    if pipe is None:
        raise SystemExit(f"{url}: the pipe serves plain redis:// URLs only")
    prefix = f"bench-pipe-{uuid.uuid4().hex[:8]}:"
    keys = [f"{prefix}{i}" for i in range(50)]
    await client.mset(dict.fromkeys(keys, b"x" * 200))
    script: Any = client.register_script(SCRIPT)
    cases: dict[str, dict[str, Callable[[], Awaitable[Any]]]] = {
        "script": {
            "redis-py": lambda: script(keys=[keys[0]]),
            "pipe": lambda: pipe.script(SCRIPT, [keys[0]], []),
        },
        "MGET x50": {
            "redis-py": lambda: client.mget(keys),
            "pipe": lambda: pipe.execute(b"MGET", *keys),
        },
    }
    try:
        for name, sides in cases.items():
            figures: dict[str, list[float]] = {side: [] for side in sides}
            for _ in range(2):
                for side, call in sides.items():
                    figures[side].append(await cpu_us(call, calls))
            shown = ", ".join(
                f"{side} {' / '.join(f'{v:.1f}' for v in values)} us"
                for side, values in figures.items()
            )
            print(f"{name}: {shown} of CPU per call ({CONCURRENCY} at a time)")
    finally:
        await client.delete(*keys)
        await pipe.close()
        await client.aclose()


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.redispipe", description=__doc__)
    parser.add_argument("--redis", default=BenchConfig.from_env().redis_url)
    parser.add_argument("--calls", type=int, default=4800)
    args = parser.parse_args()
    if not args.redis:
        raise SystemExit("no Redis: set --redis or BENCH_REDIS_URL")
    uvloop.run(run(args.redis, args.calls))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
