"""`python -m bench profile`: where an operation's time goes, from cProfile of in-process requests.

Own time (tottime) of every function is attributed to a layer by the file it lives in: HTTP,
parsing, validation, execution, resolvers, loaders, database, serialization, the event loop.
Requests go through the ASGI transport, so every socket call is a PostgreSQL round trip ("db I/O").
"""

from __future__ import annotations

import cProfile
import pstats
from typing import Any

from app.config import Settings
from app.main import create_app
from bench.config import BenchConfig, bench_settings, read_operations
from bench.report import machine, now_iso, table
from bench.sqlcount import execute, in_process
from bench.workload import MIX, Workload

# First match wins: (layer, fragments of the file path or function name).
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    # In-process requests have no HTTP socket: socket time is PostgreSQL's round trips.
    ("db I/O", ("method 'poll'", "method 'send'", "method 'recv'", "/selectors.py")),
    ("database", ("/sqlalchemy/", "/asyncpg/", "asyncpg.", "greenlet")),
    ("parse", ("/graphql/language/",)),
    ("validate", ("/graphql/validation/", "/graphql/utilities/")),
    ("serialization", ("orjson", "/json/", "/strawberry/http/", "method 'encode'")),
    ("loaders", ("/loaders/", "/aiodataloader/")),
    ("resolvers", ("/schema/",)),
    ("execute", ("/graphql/", "/strawberry/")),
    ("HTTP", ("/starlette/", "/fastapi/", "/httpx/", "/httpcore/", "/h11/", "/anyio/")),
    ("event loop", ("/asyncio/", "_asyncio", "method 'run'")),
)


def layer_of(filename: str, function: str) -> str:
    where = f"{filename} {function}"
    for layer, fragments in LAYERS:
        if any(fragment in where for fragment in fragments):
            return layer
    return "other"


def by_layer(stats: pstats.Stats) -> dict[str, float]:
    totals: dict[str, float] = {}
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    for (filename, _line, function), (_cc, _nc, tottime, _ct, _callers) in raw.items():
        layer = layer_of(filename, function)
        totals[layer] = totals.get(layer, 0.0) + tottime
    return totals


async def profile_operations(config: BenchConfig, repeat: int) -> dict[str, Any]:
    # The path of a response-cache miss, as deployed otherwise: it executes, with the field cache
    # on Redis; the bench's budget so that repeating an operation is never throttled.
    settings = bench_settings(
        Settings(
            database_url=config.database_url,
            redis_url=config.redis_url,
            log_level="warning",
            cache_response_enabled=False,
            cache_warm_on_start=False,
        )
    )
    workload = Workload(read_operations(), 500, seed=9)
    out: dict[str, Any] = {"command": "profile", "date": now_iso(), "machine": machine(),
                           "repeat": repeat, "operations": {}}  # fmt: skip
    async with in_process(create_app(settings)) as client:
        for name in MIX:
            requests = [workload.request(name) for _ in range(repeat)]
            for request in requests[:3]:
                await execute(client, request)  # warm caches, pool and prepared statements
            profiler = cProfile.Profile()
            profiler.enable()
            for request in requests:
                await execute(client, request)
            profiler.disable()
            totals = by_layer(pstats.Stats(profiler))
            whole = sum(totals.values())
            out["operations"][name] = {
                "ms_per_request": round(whole / repeat * 1000, 2),
                "share_pct": {k: round(v / whole * 100, 1) for k, v in sorted(totals.items())},
            }
    return out


def render_profile(report: dict[str, Any]) -> str:
    layers = sorted({k for op in report["operations"].values() for k in op["share_pct"]})
    rows = [
        [name, op["ms_per_request"], *(op["share_pct"].get(layer, 0.0) for layer in layers)]
        for name, op in report["operations"].items()
    ]
    return f"{report['date']}  % of profiled time per layer\n" + table(
        ["operation", "ms/req", *layers], rows
    )
