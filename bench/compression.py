"""CPU and size of compressed answers: gzip at COMPRESS_LEVEL against brotli at a few qualities,
for two answers of the bench database (StockList, ~10 KB; MentionFeed, ~100 KB), then what a
response-cache entry stores and what a hit adds to complete its stored head in each coding.

    .venv/bin/python -m bench.compression [--repeat 5]

CPU is this process's (time.process_time), the best of `--repeat` rounds, each long enough to
take ~0.2 s: a few seconds in all.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
import zlib
from collections.abc import Callable
from functools import partial

import brotli
import orjson

from app.config import Settings
from app.http.compression import brotli_head, brotli_with, deflate_head, gzip_with
from app.http.entry import without_cost
from app.main import create_app
from bench.config import BenchConfig, bench_settings
from bench.peers.operations import operation
from bench.sqlcount import in_process

ANSWERS = ("StockList", "MentionFeed")
QUALITIES = (1, 4, 5, 6)
# A hit's tail as the response cache appends it: the caller's cost.
TAIL = (
    b',"extensions":{"cost":'
    + orjson.dumps(
        {
            "requestedQueryCost": 552,
            "actualQueryCost": 1,
            "throttleStatus": {
                "maximumAvailable": 2000,
                "currentlyAvailable": 1999,
                "restoreRate": 50.0,
            },
        }
    )
    + b"}}"
)


async def answers() -> dict[str, bytes]:
    """The bench database's answers to the operations, executed, nothing cached or compressed."""
    settings = Settings(
        database_url=BenchConfig.from_env().database_url, log_level="error",
        app_env="production", cache_enabled=False, cache_response_enabled=False,
        cache_warm_on_start=False, cache_warm_interval_s=0, compress_enabled=False,
        statement_timeout_ms=60_000,
    )  # fmt: skip
    found = {}
    async with in_process(create_app(bench_settings(settings))) as client:
        for name in ANSWERS:
            op = operation(name, "app")
            body = {"query": op.query, "variables": op.variables(random.Random(1), 500)}
            reply = await client.post("/graphql", json=body)
            assert reply.status_code == 200 and b'"errors"' not in reply.content, reply.text
            found[name] = reply.content
    return found


def cpu_us(work: Callable[[], object], repeat: int) -> float:
    """CPU microseconds per call of `work`, the best of `repeat` rounds."""
    started = time.process_time()
    work()
    once = max(time.process_time() - started, 1e-6)
    calls = max(1, int(0.2 / once))
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        for _ in range(calls):
            work()
        best = min(best, (time.process_time() - started) / calls)
    return best * 1e6


def gzip_whole(body: bytes, level: int) -> bytes:
    """As Starlette's gzip responder compresses a whole body."""
    compressor = zlib.compressobj(level, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    return compressor.compress(body) + compressor.flush()


def executed(name: str, body: bytes, level: int, repeat: int) -> None:
    print(f"\n{name}, {len(body):,} bytes, compressed whole (an executed answer):")
    print("| coding | bytes | of plain | CPU us |")
    print("|---|---|---|---|")
    size = len(gzip_whole(body, level))
    us = cpu_us(lambda: gzip_whole(body, level), repeat)
    print(f"| gzip {level} | {size:,} | {size / len(body):.3f} | {us:,.0f} |")
    for quality in QUALITIES:
        size = len(brotli.compress(body, quality=quality))
        us = cpu_us(partial(brotli.compress, body, quality=quality), repeat)
        print(f"| br {quality} | {size:,} | {size / len(body):.3f} | {us:,.0f} |")


def stored(name: str, body: bytes, level: int, quality: int, repeat: int) -> None:
    stripped = without_cost(body)
    assert stripped is not None
    shared = stripped[0]
    head = shared[:-1]
    deflated = deflate_head(head, level)
    flushed = brotli_head(head, quality)
    assert gzip_with(deflated, TAIL)[:2] == b"\x1f\x8b"
    assert brotli.decompress(brotli_with(flushed, TAIL)) == head + TAIL
    print(f"\n{name}: a response-cache entry (gzip {level}, br {quality}) and a hit's completion")
    print(f"- stored body {len(shared):,} bytes; deflated head {len(deflated.data):,} "
          f"(+{len(deflated.data) / len(shared):.1%}); brotli head {len(flushed):,} "
          f"(+{len(flushed) / len(shared):.1%})")  # fmt: skip
    write_gzip = cpu_us(lambda: deflate_head(head, level), repeat)
    write_br = cpu_us(lambda: brotli_head(head, quality), repeat)
    print(f"- writing the entry: deflate_head {write_gzip:,.0f} us, brotli_head {write_br:,.0f} us")
    hit_gzip = cpu_us(lambda: gzip_with(deflated, TAIL), repeat)
    hit_br = cpu_us(lambda: brotli_with(flushed, TAIL), repeat)
    hit_plain = cpu_us(lambda: shared[:-1] + TAIL, repeat)
    print(f"- a hit's completion ({len(TAIL)}-byte tail): gzip_with {hit_gzip:.1f} us, "
          f"brotli_with {hit_br:.1f} us, plain (concatenation) {hit_plain:.1f} us")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5, help="rounds, the best kept")
    parser.add_argument("--level", type=int, default=5, help="gzip level (COMPRESS_LEVEL)")
    parser.add_argument("--quality", type=int, default=4, help="the stored brotli quality")
    args = parser.parse_args()
    bodies = asyncio.run(answers())
    for name, body in bodies.items():
        executed(name, body, args.level, args.repeat)
    for name, body in bodies.items():
        stored(name, body, args.level, args.quality, args.repeat)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
