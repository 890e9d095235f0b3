"""`python -m bench.near_push`: how soon a write by another client reaches a worker's near hits.

A worker keeps response-cache entries in memory while Redis's client tracking says they are
current (app/http/near_hits.py). This keeps one entry, makes another client bump the generation
of its tag (as another worker's ingest does), and waits until the worker has dropped it; `--count`
times. It prints the latency's percentiles, the bump's own round trip included.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import redis.asyncio as redis

from app.http.entry import encode
from app.http.near_hits import InvalidationTracker, NearHits

PREFIX = "bench-near-push"


async def measure(url: str, count: int) -> list[float]:
    client = redis.Redis.from_url(url)
    other = redis.Redis.from_url(url)
    near = NearHits(
        max_entries=10,
        max_bytes=1 << 20,
        lease_points=10,
        generation_prefix=f"{PREFIX}:gen:",
        entry_prefix=f"{PREFIX}:resp:",
    )
    tracker = InvalidationTracker(client, near)
    tracker.start()
    key = f"{PREFIX}:resp:entry"
    raw = encode([("tag", 1)], time.time() + 600, 'W/"e"', 1, "Q", b'{"data":1}', None, None)
    seconds: list[float] = []
    try:
        await asyncio.wait_for(tracker.connected.wait(), 5)
        for _ in range(count):
            near.keep(key, raw, near.epoch)
            started = time.perf_counter()
            await other.incr(f"{PREFIX}:gen:tag")
            while key in near:
                if time.perf_counter() - started > 5:
                    raise SystemExit("no invalidation within 5 s")
                await asyncio.sleep(0)
            seconds.append(time.perf_counter() - started)
    finally:
        await tracker.close()
        await other.delete(f"{PREFIX}:gen:tag")
        await client.aclose()
        await other.aclose()
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/9")
    parser.add_argument("--count", type=int, default=200)
    args = parser.parse_args()
    seconds = sorted(asyncio.run(measure(args.redis, args.count)))

    def at(share: float) -> float:
        return seconds[min(len(seconds) - 1, int(share * len(seconds)))] * 1000

    print(
        f"write -> near copy dropped, {len(seconds)} times: p50 {at(0.5):.3f} ms, "
        f"p99 {at(0.99):.3f} ms, max {seconds[-1] * 1000:.3f} ms"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
