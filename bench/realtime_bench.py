"""Ingest-to-delivery latency of live updates, with many concurrent WebSocket subscribers.

Starts one API server (uvicorn, one worker, a subprocess on 127.0.0.1), opens N subscribers of
`mentionAdded(symbols: ["AAPL"])`, then ingests E mentions one at a time through the API and
records, for every (event, subscriber), the time from sending the mutation to receiving the event.
Prints p50/p95/p99 and the server's resident memory per connection.

    python -m bench.realtime_bench --subscribers 1000 --events 20              # in-process broker
    python -m bench.realtime_bench --subscribers 1000 --redis redis://127.0.0.1:6379/5
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import httpx
import orjson
import psutil
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import ClientConnection, connect

from app import migrate
from app.apikeys import create_key
from app.config import Settings
from app.db import create_database
from app.models import Stock
from app.timeutil import utcnow

SUBSCRIPTION = 'subscription { mentionAdded(symbols: ["AAPL"]) { externalId } }'
INGEST = "mutation($m: [MentionInput!]!) { ingestMentions(mentions: $m) { accepted duplicates } }"


async def prepare(database_url: str) -> str:
    """Migrate a fresh database, add the stock and an ingest key; return the key."""
    db = create_database(Settings(database_url=database_url))
    await migrate.upgrade(db)
    async with db.sessionmaker.begin() as session:
        session.add(Stock(symbol="AAPL", name="Apple Inc.", exchange="NASDAQ"))
    token, _ = await create_key(db, "bench", scopes=["read", "ingest"])
    await db.dispose()
    return token


def start_server(
    port: int, env: dict[str, str], deflate: bool, profile: str | None
) -> subprocess.Popen[bytes]:
    runner = ["bench.profile_server", profile, "--"] if profile else ["uvicorn"]
    cmd = [
        sys.executable,
        "-m",
        *runner,
        "--factory",
        "app.main:create_app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--backlog",
        "4096",
        # The server's protocols, as `serve` runs them (app/http/connections.py).
        "--http",
        "app.http.connections:HttpProtocol",
        "--ws",
        "app.http.connections:WebSocketProtocol",
        "--ws-per-message-deflate",
        str(deflate).lower(),
    ]
    return subprocess.Popen(cmd, env={**os.environ, **env})


async def wait_ready(base: str) -> None:
    async with httpx.AsyncClient(base_url=base) as http:
        for _ in range(200):
            try:
                if (await http.get("/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)
    raise RuntimeError("server did not start")


class Subscriber:
    def __init__(self, arrivals: Counter[str]) -> None:
        self.arrivals = arrivals  # shared: how many subscribers received each event
        self.received: dict[str, float] = {}
        self.refused: list[object] = []  # `error` messages: the subscription never started
        self.repeated = 0  # events received more than once
        self.seen: set[str] = set()
        self.ws: ClientConnection | None = None

    async def open(self, url: str) -> None:
        self.ws = await connect(url, subprotocols=["graphql-transport-ws"], max_queue=None)  # type: ignore[list-item]
        await self.ws.send('{"type":"connection_init","payload":{}}')
        ack = orjson.loads(await self.ws.recv())
        if ack["type"] != "connection_ack":
            raise RuntimeError(f"no ack: {ack}")
        payload = {"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIPTION}}
        await self.ws.send(orjson.dumps(payload).decode())

    async def read(self) -> None:
        assert self.ws is not None
        async for raw in self.ws:
            now = time.perf_counter()
            message = orjson.loads(raw)
            if message.get("type") == "next":
                external_id = message["payload"]["data"]["mentionAdded"]["externalId"]
                if external_id in self.seen:
                    self.repeated += 1
                    continue
                self.seen.add(external_id)
                self.received[external_id] = now
                self.arrivals[external_id] += 1
            elif message.get("type") == "error":
                self.refused.append(message.get("payload"))


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


Scrape = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(base: str) -> Scrape:
    """The server's /metrics samples (empty if it has none)."""
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        response = await http.get("/metrics")
    found: Scrape = {}
    if response.status_code != 200:
        return found
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def slowest_bucket(before: Scrape, after: Scrape, family: str, **labels: str) -> str:
    """Between two scrapes of a histogram: how many observations, and the bucket of the
    slowest ("<= 5 ms"); "n/a" when the server does not export the family."""
    rows = []
    for (name, found_labels), value in after.items():
        label_map = dict(found_labels)
        if name != f"{family}_bucket" or any(label_map.get(k) != v for k, v in labels.items()):
            continue
        rows.append((float(label_map["le"]), value - before.get((name, found_labels), 0.0)))
    if not rows:
        return "n/a"
    rows.sort()
    total = rows[-1][1]
    if total == 0:
        return "none"
    bound = next(le for le, count in rows if count >= total)
    finite = [le for le, _ in rows if le != float("inf")]
    if bound == float("inf"):
        return f"{total:.0f}, slowest > {1000 * finite[-1]:g} ms"
    return f"{total:.0f}, slowest <= {1000 * bound:g} ms"


def pauses_report(start: Scrape, connected: Scrape, end: Scrape) -> str:
    """GC pauses and loop lag while the subscribers connected and while the events ran."""

    def phase(before: Scrape, after: Scrape) -> str:
        gcs = "; ".join(
            f"gen{g} {slowest_bucket(before, after, 'insitechart_gc_pause_seconds', generation=g)}"
            for g in "012"
        )
        lag = slowest_bucket(before, after, "insitechart_event_loop_lag_observed_seconds")
        trims = slowest_bucket(before, after, "insitechart_heap_trim_seconds")
        return f"GC pauses {gcs}; loop-lag samples {lag}; heap trims {trims}"

    longest = [end.get(("insitechart_gc_pause_max_seconds", (("generation", g),))) for g in "012"]
    lag = end.get(("insitechart_event_loop_lag_max_seconds", ()))
    full = end.get(("insitechart_full_gc_total", ()))
    overall = ", ".join(
        f"gen{g} " + ("n/a" if v is None else f"{1000 * v:.1f} ms")
        for g, v in zip("012", longest, strict=True)
    )
    return (
        f"  connecting: {phase(start, connected)}\n"
        f"  events:     {phase(connected, end)}\n"
        f"  whole run:  longest GC pause {overall}; longest loop lag "
        f"{'n/a' if lag is None else f'{1000 * lag:.1f} ms'}; upkeep full collections "
        f"{'n/a' if full is None else int(full)}"
    )


async def run(args: argparse.Namespace) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="insitechart-bench-"))
    database_url = args.database_url or f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
    token = await prepare(database_url)
    env = {
        "DATABASE_URL": database_url,
        "REALTIME_MAX_CONNECTIONS": str(args.subscribers + 100),
        "REALTIME_MAX_CONNECTIONS_PER_CLIENT": str(args.subscribers + 100),
        "REALTIME_CHANNEL_PREFIX": f"bench-{uuid.uuid4().hex[:8]}:",
        # Every subscriber is the same anonymous client, charged once when it subscribes: give it
        # the budget for all of them, or the later ones are refused (THROTTLED) and never deliver.
        "BUDGET_ANONYMOUS_CAPACITY": str(100 * (args.subscribers + 100)),
        # A fresh budget per run: buckets an earlier run left in Redis (another capacity) refused
        # thousands of subscriptions (issue 19).
        "BUDGET_KEY_PREFIX": f"bench-{uuid.uuid4().hex[:8]}:budget:",
        "LOG_LEVEL": "warning",
    }
    if args.redis:
        env["REDIS_URL"] = args.redis
    server = start_server(args.port, env, args.deflate, args.profile)
    base = f"http://127.0.0.1:{args.port}"
    try:
        await wait_ready(base)
        process = psutil.Process(server.pid)
        rss_before = process.memory_info().rss
        scraped_start = await scrape(base)
        arrivals: Counter[str] = Counter()
        subscribers = [Subscriber(arrivals) for _ in range(args.subscribers)]
        started = time.perf_counter()
        for i in range(0, len(subscribers), 200):
            await asyncio.gather(
                *(s.open(base.replace("http", "ws") + "/graphql") for s in subscribers[i : i + 200])
            )
        readers = [asyncio.create_task(s.read()) for s in subscribers]
        if args.client_gc_threshold:
            # The client holds as many connections as the server: with Python's default threshold
            # its collector walks them again and again, and the time shows up as latency.
            gc.collect()
            gc.freeze()
            gc.set_threshold(args.client_gc_threshold, *gc.get_threshold()[1:])
        print(f"{len(subscribers)} subscribers connected in {time.perf_counter() - started:.1f} s")
        await asyncio.sleep(1.0)  # let every subscription reach the broker
        refused = [s.refused[0] for s in subscribers if s.refused]
        if refused:
            raise RuntimeError(f"{len(refused)} subscriptions refused, e.g. {refused[0]}")
        rss_connected = process.memory_info().rss
        scraped_connected = await scrape(base)
        cpu_before = sum(process.cpu_times()[:2])
        client_before = time.process_time()
        latencies: list[float] = []
        responses: list[float] = []  # the ingest mutation's round trip
        firsts: list[float] = []  # the first subscriber's latency, per event
        missing = 0
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            # One warm-up event, not measured: every subscription is then known to be in place.
            for n in range(-1, args.events):
                external_id = f"bench-{uuid.uuid4().hex}"
                mention = {
                    "source": "NEWS",
                    "externalId": external_id,
                    "text": f"$AAPL beats expectations, event {n}",
                    "publishedAt": (utcnow() - timedelta(seconds=1)).isoformat(),
                }
                sent = time.perf_counter()
                response = await http.post(
                    "/graphql",
                    json={"query": INGEST, "variables": {"m": [mention]}},
                    headers={"Authorization": f"Bearer {token}"},
                )
                responded = time.perf_counter()
                assert response.json()["data"]["ingestMentions"]["accepted"] == 1
                deadline = sent + (args.timeout_s if n >= 0 else 120)
                while time.perf_counter() < deadline:
                    if arrivals[external_id] >= len(subscribers):
                        break
                    await asyncio.sleep(0.005)
                times = [s.received.pop(external_id, None) for s in subscribers]
                await asyncio.sleep(args.pause_s)
                if n < 0:
                    continue
                arrived = [at - sent for at in times if at is not None]
                missing += len(times) - len(arrived)
                latencies.extend(arrived)
                responses.append(responded - sent)
                firsts.append(min(arrived, default=responded - sent))
        rss_after = process.memory_info().rss
        scraped_end = await scrape(base)
        server_cpu = sum(process.cpu_times()[:2]) - cpu_before
        client_cpu = time.process_time() - client_before
        for task in readers:
            task.cancel()
        await asyncio.gather(*(s.ws.close() for s in subscribers if s.ws), return_exceptions=True)
        broker = "redis" if args.redis else "in-process"
        print(
            f"broker: {broker}; subscribers: {args.subscribers}; events: {args.events}; "
            f"permessage-deflate: {'on' if args.deflate else 'off'}; "
            f"client GC threshold: {args.client_gc_threshold or 'default'}"
        )
        print(
            f"deliveries: {len(latencies)} (missing {missing}, "
            f"repeated {sum(s.repeated for s in subscribers)}); latency ms "
            f"p50 {1000 * percentile(latencies, 0.50):.0f} "
            f"p95 {1000 * percentile(latencies, 0.95):.0f} "
            f"p99 {1000 * percentile(latencies, 0.99):.0f} "
            f"max {1000 * max(latencies):.0f} mean {1000 * statistics.fmean(latencies):.0f}"
        )
        print(
            f"per event, ms: ingest response p50 {1000 * statistics.median(responses):.0f}, "
            f"first delivery p50 {1000 * statistics.median(firsts):.0f}"
        )
        deliveries = max(1, len(latencies))
        print(
            f"CPU per delivery: server {1e6 * server_cpu / deliveries:.0f} us, "
            f"bench client {1e6 * client_cpu / deliveries:.0f} us"
        )
        per_conn = (rss_connected - rss_before) / max(1, args.subscribers)
        print(
            f"server RSS: {rss_before / 2**20:.0f} MiB idle, {rss_connected / 2**20:.0f} MiB "
            f"connected, {rss_after / 2**20:.0f} MiB after the events; "
            f"{per_conn / 1024:.1f} KiB per connection"
        )
        print("server (from /metrics):")
        print(pauses_report(scraped_start, scraped_connected, scraped_end))
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--events", type=int, default=20)
    parser.add_argument("--port", type=int, default=8500)
    parser.add_argument("--redis", help="REDIS_URL for the Redis broker (default: in-process)")
    parser.add_argument("--database-url", help="default: a fresh SQLite file")
    parser.add_argument("--timeout-s", type=float, default=10.0)
    parser.add_argument("--pause-s", type=float, default=0.2)
    parser.add_argument(
        "--client-gc-threshold",
        type=int,
        default=100_000,
        help="the bench client's GC gen-0 threshold once connected (0: Python's default)",
    )
    parser.add_argument("--profile", help="run the server under cProfile, writing stats here")
    parser.add_argument(
        "--deflate", action="store_true", help="allow permessage-deflate (uvicorn's default)"
    )
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
