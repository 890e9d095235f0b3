"""Simulated users with think time, ramped in steps (`python -m bench.userload SPEC RESULT`).

Each user opens the market overview (StockList), then a few stock pages (StockDetail over the
skewed symbols), thinking between pages, and starts again. A share of them (`live_share`) first
open a `LiveSentiment` subscription over a small watchlist and hold it while they browse; an
ingester (with an `ingest` key) pushes mentions so the subscriptions have events to deliver.
Runs in its own process.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from dataclasses import asdict, dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import uvloop

from bench.config import read_operations
from bench.live import Ingester, LiveStats, live_user, ws_url
from bench.loadgen import client_for, send
from bench.stats import Samples
from bench.workload import Workload, popular_symbol

P95_TARGET_MS = 200.0


@dataclass(frozen=True, slots=True)
class RampSpec:
    url: str
    steps: list[int] = field(default_factory=lambda: [50, 100, 250, 500, 1000, 2500, 5000, 10000])
    step_s: float = 15.0
    think_s: float = 5.0
    stocks: int = 500
    connections: int = 1000
    abort_p95_ms: float = 5000.0  # stop ramping once this far past saturation
    live_share: float = 0.2  # users who hold a LiveSentiment subscription while browsing
    ingest_token: str | None = None  # a key with the ingest scope; None: no ingester
    ingest_per_s: float = 2.0


async def user(
    client: Any, workload: Workload, spec: RampSpec, step: list[Samples], live: LiveStats
) -> None:
    rng = random.Random(workload.rng.random())
    await asyncio.sleep(rng.random() * spec.think_s)  # users arrive spread out, not in a burst
    holding: asyncio.Task[None] | None = None
    if rng.random() < spec.live_share:
        watchlist = sorted({popular_symbol(rng, spec.stocks) for _ in range(rng.randint(1, 5))})
        query = workload.operations["LiveSentiment"]
        holding = await live_user(ws_url(spec.url), query, watchlist, live)
    try:
        while True:
            pages = [workload.request("StockList")]
            pages += [workload.request("StockDetail") for _ in range(rng.randint(1, 4))]
            for request in pages:
                ms, error, cache = await send(client, request)
                step[0].add(ms, error, cache)
                await asyncio.sleep(rng.uniform(0.5, 1.5) * spec.think_s)
    finally:
        if holding is not None:
            holding.cancel()
            await asyncio.gather(holding, return_exceptions=True)


def step_summary(
    users: int, samples: Samples, elapsed_s: float, live: dict[str, Any]
) -> dict[str, Any]:
    out = samples.summary(elapsed_s)
    out["users"] = users
    out["live"] = live
    out.pop("mean_ms")
    return out


async def ramp(spec: RampSpec) -> dict[str, Any]:
    workload = Workload(read_operations(), spec.stocks, seed=5)
    tasks: list[asyncio.Task[None]] = []
    steps: list[dict[str, Any]] = []
    current = [Samples()]
    live = LiveStats()
    async with client_for(spec.url, spec.connections) as client:
        ingesting = None
        if spec.ingest_token is not None:
            ingester = Ingester(
                client, workload.operations["IngestMentions"], spec.ingest_token,
                spec.ingest_per_s, spec.stocks, live,
            )  # fmt: skip
            ingesting = asyncio.create_task(ingester.run())
        for users in spec.steps:
            while len(tasks) < users:
                tasks.append(asyncio.create_task(user(client, workload, spec, current, live)))
            current[0] = Samples()
            events_before = live.events
            started = time.perf_counter()
            await asyncio.sleep(spec.step_s)
            held = {"held": live.opened - live.closed, "failed": live.failed,
                    "events": live.events - events_before}  # fmt: skip
            steps.append(step_summary(users, current[0], time.perf_counter() - started, held))
            if steps[-1]["p95_ms"] > spec.abort_p95_ms or steps[-1]["error_rate"] > 0.2:
                break
        if ingesting is not None:
            ingesting.cancel()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if ingesting is not None:
            await asyncio.gather(ingesting, return_exceptions=True)
    return {
        "spec": asdict(spec),
        "steps": steps,
        "saturation": saturation(steps),
        "live": live.as_dict(),
    }


def saturation(steps: list[dict[str, Any]]) -> dict[str, Any]:
    """The most users served within target (p95 < 200 ms, < 1% errors) and where throughput
    stopped growing with the users (the saturation point)."""
    within = [s["users"] for s in steps if s["p95_ms"] < P95_TARGET_MS and s["error_rate"] < 0.01]
    saturated_at = next(
        (b["users"] for a, b in pairwise(steps) if b["rps"] < 1.1 * a["rps"]),
        None,
    )
    return {
        "max_users_within_target": max(within, default=0),
        "saturated_at_users": saturated_at,
        "peak_rps": max((s["rps"] for s in steps), default=0.0),
        "reached_users": steps[-1]["users"] if steps else 0,
    }


def main() -> int:
    spec = RampSpec(**json.loads(sys.argv[1]))
    Path(sys.argv[2]).write_text(json.dumps(uvloop.run(ramp(spec))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
