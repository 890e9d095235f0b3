"""Seed throughput and memory: mentions stored per second and peak RSS, batch by batch.

    .venv/bin/python -m bench.seed_throughput \\
        --server postgresql://postgres@127.0.0.1:5432/postgres --mentions 200000

With --server, a throwaway PostgreSQL database is created beside it and dropped at the end;
with --database-url the given (migrated or empty) database is used as is. RSS is sampled after
every batch, so a flat curve shows memory does not grow with the total.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import time
import uuid

import asyncpg
import psutil
from sqlalchemy.engine import make_url

from app import migrate
from app.config import Settings
from app.db import create_database
from app.demo.seed import SeedOptions, seed


async def _admin(server: str, sql: str) -> None:
    url = make_url(server)
    conn = await asyncpg.connect(
        host=url.host, port=url.port or 5432, user=url.username, password=url.password,
        database=url.database or "postgres",
    )  # fmt: skip
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def run(database_url: str, options: SeedOptions) -> None:
    db = create_database(Settings(database_url=database_url))
    process = psutil.Process()
    samples: list[tuple[int, float, float]] = []
    done = 0
    began = time.perf_counter()

    def on_batch(n: int) -> None:
        nonlocal done
        done += n
        rss_mb = process.memory_info().rss / 2**20
        samples.append((done, time.perf_counter() - began, rss_mb))

    try:
        await migrate.upgrade(db)
        report = await seed(db, options, on_batch=on_batch)
    finally:
        await db.dispose()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"database   {db.dialect}, batch size {options.batch_size}")
    print(f"mentions   {report.mentions_added} added in {report.elapsed_s:.1f} s")
    print(f"throughput {report.rows_per_s:,.0f} mentions/s (generate + score + insert + roll-up)")
    print(f"peak RSS   {peak_mb:.0f} MiB")
    step = max(len(samples) // 10, 1)
    for count, elapsed, rss_mb in samples[step - 1 :: step]:
        print(f"  {count:>10,} mentions  {elapsed:7.1f} s  RSS {rss_mb:6.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--server", help="PostgreSQL server URL: use a throwaway database on it")
    target.add_argument("--database-url", help="use this database as is")
    parser.add_argument("--mentions", type=int, default=200_000)
    parser.add_argument("--batch-size", type=int, default=2_000)
    parser.add_argument("--days", type=int, default=14)
    args = parser.parse_args()
    options = SeedOptions(mentions=args.mentions, days=args.days, batch_size=args.batch_size)
    if args.database_url:
        asyncio.run(run(args.database_url, options))
        return
    name = f"insitechart_bench_{uuid.uuid4().hex[:8]}"
    asyncio.run(_admin(args.server, f'CREATE DATABASE "{name}"'))
    url = make_url(args.server).set(drivername="postgresql+asyncpg", database=name)
    try:
        asyncio.run(run(url.render_as_string(hide_password=False), options))
    finally:
        asyncio.run(_admin(args.server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
