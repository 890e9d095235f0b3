"""`python -m bench.ingest_compare`: the write path (`insitechart seed`: generate, score, store,
roll up) on one table (revision 0002) against the partitioned schema (head), alternately, on
throwaway databases of the bench's PostgreSQL server; prints mentions/s of each run."""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid

import asyncpg
from sqlalchemy.engine import make_url

from app import migrate
from app.config import Settings
from app.db import create_database
from app.demo.seed import SeedOptions, seed
from bench.config import BenchConfig


async def _admin(server: str, sql: str) -> None:
    url = make_url(server)
    conn = await asyncpg.connect(host=url.host, port=url.port or 5432, user=url.username,
                                 password=url.password, database="postgres")  # fmt: skip
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def one(server: str, revision: str, mentions: int) -> float:
    """Mentions/s of a seed of `mentions` into a fresh database at `revision`."""
    name = f"insitechart_ingest_{uuid.uuid4().hex[:8]}"
    await _admin(server, f'CREATE DATABASE "{name}"')
    url = make_url(server).set(drivername="postgresql+asyncpg", database=name)
    settings = Settings(database_url=url.render_as_string(hide_password=False))
    db = create_database(settings.model_copy(update={"statement_timeout_ms": 0}))
    try:
        await migrate.upgrade(db, revision)
        started = time.perf_counter()
        report = await seed(db, SeedOptions(mentions=mentions, days=14, batch_size=2000))
        return report.mentions_added / (time.perf_counter() - started)
    finally:
        await db.dispose()
        await _admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def compare(server: str, mentions: int, rounds: int) -> dict[str, list[float]]:
    runs: dict[str, list[float]] = {"0002": [], "head": []}
    for _ in range(rounds):
        for revision in runs:
            runs[revision].append(await one(server, revision, mentions))
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mentions", type=int, default=30_000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    server = BenchConfig.from_env().server_url
    runs = asyncio.run(compare(server, args.mentions, args.rounds))
    flat, part = (sum(v) / len(v) for v in runs.values())
    for revision, values in runs.items():
        print(f"{revision:>5}: " + ", ".join(f"{v:,.0f}" for v in values) + " mentions/s")
    print(f"partitioned / one table: {part / flat:.2f}x")


if __name__ == "__main__":
    main()
