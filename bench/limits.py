"""What the limits cost per request: cost analysis of the reference operations, and a bucket take.

    .venv/bin/python -m bench.limits [--redis redis://127.0.0.1:6379/6] [--rounds 2000]

Prints microseconds per call (median of 5 runs). Nothing here touches the database.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from functools import partial

from graphql import OperationDefinitionNode
from redis.asyncio import Redis

from app.config import Settings
from app.ratelimit import MemoryBuckets, Rate, RedisBuckets
from bench.config import OPERATIONS_DIR
from schema import build_schema
from schema.cost import CostAnalysis, select_operation
from schema.limits import DocumentShape, StaticLimits, parse_document

VARIABLES = {"PartnerScores": {"symbols": [f"S{i}" for i in range(50)]}}


def per_call_us(work: Callable[[], object], rounds: int) -> float:
    runs = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(rounds):
            work()
        runs.append((time.perf_counter() - start) / rounds * 1e6)
    return statistics.median(runs)


async def per_await_us(work: Callable[[], Awaitable[object]], rounds: int) -> float:
    runs = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(rounds):
            await work()
        runs.append((time.perf_counter() - start) / rounds * 1e6)
    return statistics.median(runs)


def measure_shape(shape: DocumentShape, operation: OperationDefinitionNode) -> None:
    shape.depth(operation.selection_set)
    shape.aliases(operation.selection_set)
    shape.root_fields(operation.selection_set)


def bench_documents(rounds: int) -> None:
    settings = Settings()
    schema = build_schema(settings)._schema
    limits = StaticLimits.from_settings(settings)
    print(f"{'operation':<16}{'cost':>7}{'cost analysis us':>18}{'shape limits us':>17}")
    for path in sorted(OPERATIONS_DIR.glob("*.graphql")):
        document = parse_document(path.read_text(), limits.max_tokens)
        operation = select_operation(document, None)
        if not isinstance(operation, OperationDefinitionNode):
            continue
        analysis = CostAnalysis(schema, document, settings.cost_default_list_size)
        variables = VARIABLES.get(path.stem, {})
        cost = analysis.requested(operation, variables)
        cost_us = per_call_us(partial(analysis.requested, operation, variables), rounds)
        shape_us = per_call_us(partial(measure_shape, DocumentShape({}), operation), rounds)
        print(f"{path.stem:<16}{cost:>7}{cost_us:>18.1f}{shape_us:>17.1f}")


async def bench_buckets(redis_url: str | None, rounds: int) -> None:
    rate = Rate(capacity=10**9, per_s=1e6)
    memory = MemoryBuckets()
    us = await per_await_us(lambda: memory.take("ip:bench", 1, rate), rounds)
    print(f"bucket take, in-process: {us:.1f} us")
    if redis_url is None:
        return
    redis = Redis.from_url(redis_url)
    prefix = f"bench:budget:{uuid.uuid4().hex}:"
    buckets = RedisBuckets(redis, prefix)
    try:
        us = await per_await_us(lambda: buckets.take("ip:bench", 1, rate), rounds // 4)
        print(f"bucket take, Redis Lua script: {us:.1f} us")
    finally:
        await redis.delete(prefix + "ip:bench")
        await redis.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--redis", help="Redis URL for the shared bucket (default: skip)")
    parser.add_argument("--rounds", type=int, default=2000)
    args = parser.parse_args()
    bench_documents(args.rounds)
    asyncio.run(bench_buckets(args.redis, args.rounds))


if __name__ == "__main__":
    main()
