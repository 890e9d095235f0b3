"""SQL statements per operation, counted in-process for the real schema and the naive baseline."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import httpx
from fastapi import FastAPI

from app.config import Settings
from app.db import watch_statements
from app.main import create_app as create_real_app
from bench.config import bench_settings
from bench.naive.app import create_app as create_naive_app
from bench.workload import Request

APPS: dict[str, Callable[[Settings], FastAPI]] = {
    "real": create_real_app,
    "naive": create_naive_app,
}


class StatementCounter:
    def __init__(self) -> None:
        self.count = 0

    def _record(self, *_: Any) -> None:
        self.count += 1


@contextmanager
def counting() -> Iterator[StatementCounter]:
    counter = StatementCounter()
    with watch_statements(counter._record):
        yield counter


@asynccontextmanager
async def in_process(app: FastAPI) -> Any:
    """An HTTP client that talks to `app` in-process, with the app's lifespan running."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            yield client


async def execute(client: httpx.AsyncClient, request: Request) -> dict[str, Any]:
    response = await client.post(
        "/graphql", json={"query": request.query, "variables": request.variables}
    )
    body: dict[str, Any] = response.json()
    return body


async def solo_ms(client: httpx.AsyncClient, request: Request, repeat: int) -> float:
    """The median latency of `request` sent alone, `repeat` times, in-process."""
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        await execute(client, request)
        timings.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(timings), 1)


async def count_per_operation(
    settings: Settings, requests: list[Request], repeat: int = 0
) -> dict[str, dict[str, Any]]:
    """Run each request on both apps: statements per operation, whether results match, and
    (with `repeat`) its median latency alone, with no concurrent load.

    Both apps run without any cache here: the figures are what an operation costs when it
    executes (a cache miss), so the real app's count is its loaders' batches. The data are
    compared, not `extensions.cost`, which reports each caller's own budget.
    """
    settings = bench_settings(settings).model_copy(update={"cache_enabled": False})
    bodies: dict[str, dict[str, dict[str, Any]]] = {}
    counts: dict[str, dict[str, int]] = {}
    solo: dict[str, dict[str, float]] = {}
    for kind, factory in APPS.items():
        async with in_process(factory(settings)) as client:
            for request in requests:
                await execute(client, request)  # warm: parser, validation, pool, prepared
                with counting() as counter:
                    bodies.setdefault(request.name, {})[kind] = await execute(client, request)
                counts.setdefault(request.name, {})[kind] = counter.count
                if repeat:
                    solo.setdefault(request.name, {})[kind] = await solo_ms(client, request, repeat)
    out: dict[str, dict[str, Any]] = {}
    for name, by_kind in counts.items():
        real, naive = bodies[name]["real"], bodies[name]["naive"]
        out[name] = {
            "real": by_kind["real"],
            "naive": by_kind["naive"],
            "results_match": real.get("data") == naive.get("data") and "errors" not in real,
        }
        if name in solo:
            out[name]["solo_ms"] = solo[name]
    return out
