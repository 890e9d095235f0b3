"""Redis work per request of the users' pages, on one Redis and on a 3-master Redis Cluster.

`python -m bench.rediscost`: an in-process app on the bench database plays the users benchmark's
pages (a StockList, then one to four StockDetail, as bench/userload.py), warms up, then counts the
commands and CPU time its private Redis servers spent per request (INFO stats and INFO cpu).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
from pathlib import Path

import httpx
import redis

from app.config import Settings
from app.main import create_app
from bench.config import BenchConfig, bench_settings, read_operations
from bench.rediscluster import RedisCluster
from bench.workload import Request, Workload
from tests.faults.services import RedisServer


def usage(ports: list[int]) -> tuple[int, float]:
    """Commands processed and CPU seconds used, summed over the servers."""
    commands, cpu = 0, 0.0
    for port in ports:
        with redis.Redis(port=port) as node:
            commands += int(node.info("stats")["total_commands_processed"])
            info = node.info("cpu")
            cpu += float(info["used_cpu_sys"]) + float(info["used_cpu_user"])
    return commands, cpu


def pages(workload: Workload, rng: random.Random, visits: int) -> list[Request]:
    out: list[Request] = []
    for _ in range(visits):
        out.append(workload.request("StockList"))
        out += [workload.request("StockDetail") for _ in range(rng.randint(1, 4))]
    return out


async def measure(url: str, ports: list[int], cluster: bool, visits: int) -> str:
    settings = bench_settings(
        Settings(
            database_url=BenchConfig.from_env().database_url,
            redis_url=url,
            redis_cluster=cluster,
            cache_warm_on_start=False,
            cache_warm_interval_s=0,
            cache_redis_timeout_ms=500,  # a busy host must not open the breaker: we count
            log_level="error",
        )
    )
    workload, rng = Workload(read_operations(), 500, seed=7), random.Random(3)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            for request in pages(workload, rng, visits // 2):  # warm-up
                await client.post(
                    "/graphql", json={"query": request.query, "variables": request.variables}
                )
            before, hits, sent = usage(ports), 0, 0
            for request in pages(workload, rng, visits):
                response = await client.post(
                    "/graphql", json={"query": request.query, "variables": request.variables}
                )
                hits += response.headers.get("x-cache") == "HIT"
                sent += 1
            after = usage(ports)
    name = "cluster of 3" if cluster else "one Redis"
    commands = (after[0] - before[0]) / sent
    cpu_us = (after[1] - before[1]) * 1e6 / sent
    return (
        f"{name}: {sent} requests, hit ratio {hits / sent:.3f}, "
        f"{commands:.1f} commands and {cpu_us:.0f} us of Redis CPU per request"
    )


async def run(visits: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        single = RedisServer(Path(folder))
        await single.start()
        try:
            print(await measure(single.url, [single.port], False, visits))
        finally:
            single.stop()
        cluster = RedisCluster(Path(folder))
        try:
            cluster.start()
            print(await measure(cluster.url, cluster.ports, True, visits))
        finally:
            cluster.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.rediscost", description=__doc__)
    parser.add_argument("--visits", type=int, default=300, help="StockList visits counted")
    asyncio.run(run(parser.parse_args().visits))


if __name__ == "__main__":
    main()
