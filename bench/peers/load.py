"""One cell's load: one operation against one server, closed loop, in its own process.

`python -m bench.peers.load SPEC_JSON RESULT_PATH`, like bench/loadgen.py (whose `send` and
HTTP/1.1 pool it uses), but the document comes with the spec, so the same client drives
InsiteChart and PostGraphile.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson
import uvloop

from bench.http1 import HttpError, Poster
from bench.loadgen import client_for, send
from bench.peers.operations import Operation
from bench.stats import Samples, summarize
from bench.workload import Request


@dataclass(frozen=True, slots=True)
class CellSpec:
    url: str
    name: str
    query: str
    concurrency: int = 16
    duration_s: float = 8.0
    max_requests: int = 100_000
    warmup_requests: int = 50
    stocks: int = 500
    seed: int = 1
    token: str | None = None  # an API key: InsiteChart then skips the shared response cache
    gzip: bool = False  # ask for gzip (Accept-Encoding); the body is then not decoded
    # Send every distinct request the cell will draw once before it starts, unmeasured: the
    # response cache then holds them all, and the cell measures its hits (and its expiries).
    prewarm: bool = False


async def send_gzip(
    client: Poster, request: Request, token: str | None
) -> tuple[float, str | None, str | None]:
    """Send one operation asking for gzip; an answer is good when it is a 200 (its body is
    compressed or small: not decoded, as a browser would decode it off the server's clock)."""
    body = orjson.dumps({"query": request.query, "variables": request.variables})
    headers = {"content-type": "application/json", "accept-encoding": "gzip"}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    started = time.perf_counter()
    error: str | None = None
    reply = None
    try:
        reply = await client.post("/graphql", body, headers)
        if reply.status != 200:
            error = f"HTTP {reply.status}"
    except HttpError as exc:
        error = str(exc)
    cache = reply.headers.get("x-cache") if reply is not None else None
    return (time.perf_counter() - started) * 1000, error, cache


async def drive(spec: CellSpec) -> dict[str, Any]:
    """Send `spec.query` from `concurrency` clients until the duration or the request cap."""
    op = Operation(spec.name, spec.query)
    rng = random.Random(spec.seed)
    samples = Samples()
    sent = 0

    send_one = send_gzip if spec.gzip else send

    def next_request() -> Request:
        return Request(spec.name, spec.query, op.variables(rng, spec.stocks))

    async with client_for(spec.url, spec.concurrency) as client:
        if spec.prewarm:
            await prewarm(client, spec, op, send_one)
        for _ in range(spec.warmup_requests):
            await send_one(client, next_request(), spec.token)
        deadline = time.perf_counter() + spec.duration_s

        async def worker() -> None:
            nonlocal sent
            while sent < spec.max_requests and time.perf_counter() < deadline:
                sent += 1
                ms, error, cache = await send_one(client, next_request(), spec.token)
                samples.add(ms, error, cache)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(spec.concurrency)))
        elapsed = time.perf_counter() - started
    return {
        "spec": {k: v for k, v in asdict(spec).items() if k not in ("query", "token")},
        "elapsed_s": round(elapsed, 2),
        "ops": summarize({spec.name: samples}, elapsed),
    }


async def prewarm(client: Poster, spec: CellSpec, op: Operation, send_one: Any) -> None:
    """Each distinct request of the cell's draws (the same seed: its warm-up's and its own, up
    to its request cap) sent once, `concurrency` at a time."""
    rng = random.Random(spec.seed)
    distinct: dict[bytes, dict[str, Any]] = {}
    for _ in range(spec.warmup_requests + spec.max_requests):
        variables = op.variables(rng, spec.stocks)
        distinct.setdefault(orjson.dumps(variables, option=orjson.OPT_SORT_KEYS), variables)
    queue = list(distinct.values())

    async def worker() -> None:
        while queue:
            await send_one(client, Request(spec.name, spec.query, queue.pop()), spec.token)

    await asyncio.gather(*(worker() for _ in range(spec.concurrency)))


def main() -> int:
    spec = CellSpec(**json.loads(sys.argv[1]))
    result = uvloop.run(drive(spec))
    Path(sys.argv[2]).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
