"""StockList with quotes against a local upstream with fixed latency: sequential vs batched.

    python -m bench.quotes_bench [--stocks 50] [--latency-ms 50] [--repeat 5]

Everything runs in one process: a Finnhub-compatible server on 127.0.0.1 (an OS-assigned port)
that answers each quote after --latency-ms, a migrated SQLite database in a temporary folder
holding --stocks stocks, and the app served in-process. Each scenario builds its own app (its own
connection pool, an empty quote cache) and times the whole GraphQL request, --repeat times.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from app import migrate
from app.config import Settings
from app.db import create_database
from app.main import create_app
from tests.factories.universe import make_universe
from tests.quotes.upstream import Behaviour, Upstream, running_upstream

QUERY = """
query StockListWithQuotes($first: Int!) {
  stocks(first: $first) {
    nodes { symbol name sector quote { price change changePercent source } }
  }
}
"""


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    concurrency: int
    cache_ttl_s: float = 0.0
    warm: bool = False


SCENARIOS = (
    Scenario("sequential (QUOTES_CONCURRENCY=1)", 1),
    Scenario("batched, concurrency 10 (default)", 10),
    Scenario("batched, concurrency 50", 50),
    Scenario("batched, cache warm (TTL 60 s)", 10, cache_ttl_s=60.0, warm=True),
)


async def old_style(upstream: Upstream, symbols: list[str]) -> float:
    """The old service: one call after another, a new connection for each."""
    started = time.perf_counter()
    for symbol in symbols:
        async with httpx.AsyncClient(base_url=upstream.url) as client:
            response = await client.get("/api/v1/quote", params={"symbol": symbol, "token": "b"})
            response.raise_for_status()
    return time.perf_counter() - started


async def run_scenario(
    base: Settings, upstream: Upstream, scenario: Scenario, stocks: int, repeat: int
) -> tuple[list[float], int, int, int]:
    values: dict[str, Any] = {
        **base.model_dump(),
        "quotes_provider": "finnhub",
        "quotes_base_url": upstream.url,
        "quotes_token": "bench",
        "quotes_concurrency": scenario.concurrency,
        "quotes_cache_ttl_s": scenario.cache_ttl_s,
    }
    app = create_app(Settings(**values))
    timings = []
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:

            async def once() -> float:
                started = time.perf_counter()
                response = await client.post(
                    "/graphql", json={"query": QUERY, "variables": {"first": stocks}}
                )
                elapsed = time.perf_counter() - started
                body = response.json()
                nodes = body["data"]["stocks"]["nodes"]
                if "errors" in body or len(nodes) != stocks:
                    raise SystemExit(f"{scenario.name}: bad response {str(body)[:300]}")
                return elapsed

            if scenario.warm:
                await once()
            connections_before, requests_before = upstream.connections, upstream.requests
            upstream.peak_in_flight = 0
            for _ in range(repeat):
                timings.append(await once())
            connections = upstream.connections - connections_before
            requests = upstream.requests - requests_before
    return timings, upstream.peak_in_flight, connections, requests


async def main(stocks: int, latency_ms: int, repeat: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        base = Settings(
            database_url=f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}", log_level="error"
        )
        db = create_database(base)
        await migrate.upgrade(db)
        await make_universe(db, stocks, 0)
        await db.dispose()
        async with running_upstream() as upstream:
            upstream.behaviour = Behaviour(delay_s=latency_ms / 1000)
            symbols = [f"S{i:03d}" for i in range(stocks)]
            old = [await old_style(upstream, symbols) for _ in range(repeat)]
            print(f"{stocks} stocks, upstream latency {latency_ms} ms, {repeat} runs each\n")
            header = f"{'scenario':44} {'median ms':>10} {'min ms':>8} {'peak':>5} {'conns':>6}"
            print(f"{header} {'calls':>6}")
            total = stocks * repeat
            report("sequential, new connection per call (old)", old, 1, total, total)
            medians = {}
            for scenario in SCENARIOS:
                timings, *counts = await run_scenario(base, upstream, scenario, stocks, repeat)
                medians[scenario.name] = statistics.median(timings)
                report(scenario.name, timings, *counts)
    sequential = medians[SCENARIOS[0].name]
    batched = medians[SCENARIOS[1].name]
    print(f"\nsequential / batched (concurrency 10): {sequential / batched:.1f}x")
    print(f"old service / batched (concurrency 10): {statistics.median(old) / batched:.1f}x")


def report(name: str, timings: list[float], peak: int, connections: int, calls: int) -> None:
    """One row: wall time of the request; peak calls in flight, connections and calls upstream."""
    median, best = statistics.median(timings) * 1000, min(timings) * 1000
    print(f"{name:44} {median:10.1f} {best:8.1f} {peak:5d} {connections:6d} {calls:6d}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stocks", type=int, default=50)
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.stocks, args.latency_ms, args.repeat))
