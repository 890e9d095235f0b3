"""The load generator: an asyncio httpx client, run in its own process (`python -m bench.loadgen`).

It takes a JSON spec as its first argument and writes a JSON result to the file named by its
second, so the server under test never
shares an event loop or a core's GIL with the client.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import uvloop

from bench.config import read_operations
from bench.http1 import Http1Pool, HttpError, HttpxPoster, Poster
from bench.live import LiveStats, churn, ws_url
from bench.stats import Samples, summarize
from bench.workload import Request, Workload


@dataclass(frozen=True, slots=True)
class LoadSpec:
    url: str
    concurrency: int = 32
    duration_s: float = 30.0
    max_requests: int = 20_000
    stocks: int = 500
    seed: int = 1
    warmup_requests: int = 0
    only: str | None = None  # one operation instead of the mix
    token: str | None = None  # an API key: requests then skip the shared response cache
    churn_connections: int = 0  # WebSocket connections opened and closed during the phase
    churn_batch: int = 1000  # opened at once, then all closed
    churn_pause_s: float = 0.0  # between two batches


async def send(
    client: Poster, request: Request, token: str | None = None
) -> tuple[float, str | None, str | None]:
    """Send one operation; return its latency in ms, an error description or None, and the
    response cache's verdict (the `X-Cache` header: HIT, MISS, or None when not cacheable)."""
    body = orjson.dumps({"query": request.query, "variables": request.variables})
    headers = {"content-type": "application/json"}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    started = time.perf_counter()
    error: str | None = None
    cache: str | None = None
    try:
        reply = await client.post("/graphql", body, headers)
        cache = reply.headers.get("x-cache")
        if reply.status != 200:
            error = f"HTTP {reply.status}: {reply.body[:200].decode(errors='replace')}"
        else:
            payload = orjson.loads(reply.body)
            if payload.get("errors"):
                error = json.dumps(payload["errors"][0])
    except HttpError as exc:
        error = str(exc)
    except orjson.JSONDecodeError as exc:
        error = f"unparsable JSON: {exc}"
    return (time.perf_counter() - started) * 1000, error, cache


def client_for(
    url: str,
    connections: int,
    timeout_s: float = 30.0,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Poster:
    """A pool of keep-alive connections; with `transport`, an httpx client that drives an app
    in-process (the tests)."""
    if transport is None:
        return Http1Pool(url, connections, timeout_s)
    return HttpxPoster(httpx.AsyncClient(base_url=url, timeout=timeout_s, transport=transport))


async def drive(
    spec: LoadSpec, transport: httpx.AsyncBaseTransport | None = None
) -> dict[str, Any]:
    """Closed loop: `concurrency` clients send the mix until the duration or request cap,
    while (with `churn_connections`) live connections are opened and closed by the thousand."""
    operations = read_operations()
    workload = Workload(operations, spec.stocks, spec.seed, spec.only)
    samples: dict[str, Samples] = defaultdict(Samples)
    live = LiveStats()
    sent = 0

    async with client_for(spec.url, spec.concurrency, transport=transport) as client:
        for _ in range(spec.warmup_requests):
            await send(client, workload.next(), spec.token)
        deadline = time.perf_counter() + spec.duration_s

        async def worker() -> None:
            nonlocal sent
            while sent < spec.max_requests and time.perf_counter() < deadline:
                sent += 1
                request = workload.next()
                ms, error, cache = await send(client, request, spec.token)
                samples[request.name].add(ms, error, cache)

        started = time.perf_counter()
        churning = None
        if spec.churn_connections:
            query = operations["LiveSentiment"]
            url, total, batch = ws_url(spec.url), spec.churn_connections, spec.churn_batch
            churning = asyncio.create_task(
                churn(url, query, total, batch, spec.stocks, live, pause_s=spec.churn_pause_s)
            )
        await asyncio.gather(*(worker() for _ in range(spec.concurrency)))
        if churning is not None:
            await churning  # the churn is bounded by its count, not by the duration
        elapsed = time.perf_counter() - started
    result: dict[str, Any] = {
        "spec": asdict(spec),
        "elapsed_s": round(elapsed, 2),
        "ops": summarize(samples, elapsed),
    }
    if spec.churn_connections:
        result["live"] = live.as_dict()
    return result


def main() -> int:
    spec = LoadSpec(**json.loads(sys.argv[1]))
    result = uvloop.run(drive(spec))
    Path(sys.argv[2]).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
