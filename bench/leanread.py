"""CPU per keyed read: SQLAlchemy with a statement built per call, SQLAlchemy with it prebuilt, and
the lean read path (`Database.fetch`, the driver directly), one stock by symbol from the bench
database, alternating twice.

    .venv/bin/python -m bench.leanread [--reads 2000]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Awaitable, Callable
from typing import Any

import uvloop
from sqlalchemy import String, any_, bindparam, select
from sqlalchemy.dialects.postgresql import ARRAY

from app.config import Settings
from app.db import create_database
from app.models import Stock
from bench.config import BenchConfig
from loaders.stocks import STOCK_COLUMNS

SYMBOLS = ["AAPL"]


async def cpu_us(read: Callable[[], Awaitable[Any]], reads: int) -> float:
    for _ in range(200):
        await read()
    started = time.process_time()
    for _ in range(reads):
        await read()
    return (time.process_time() - started) * 1e6 / reads


async def run(reads: int) -> None:
    db = create_database(Settings(database_url=BenchConfig.from_env().database_url))
    if db.dialect != "postgresql":
        raise SystemExit("the lean read path is PostgreSQL's: point BENCH_DATABASE_URL at one")
    prebuilt = select(*STOCK_COLUMNS).where(
        Stock.symbol == any_(bindparam("keys", type_=ARRAY(String())))
    )

    async def built_per_call() -> Any:
        stmt = select(*STOCK_COLUMNS).where(
            Stock.symbol == any_(bindparam(None, SYMBOLS, type_=ARRAY(String())))
        )
        async with db.read() as conn:
            return (await conn.execute(stmt)).all()

    async def sqlalchemy_prebuilt() -> Any:
        async with db.read() as conn:
            return (await conn.execute(prebuilt, {"keys": SYMBOLS})).all()

    async def lean() -> Any:
        return await db.fetch(prebuilt, {"keys": SYMBOLS})

    cases = {"built per call": built_per_call, "prebuilt": sqlalchemy_prebuilt, "lean": lean}
    figures: dict[str, list[float]] = {name: [] for name in cases}
    try:
        for _ in range(2):
            for name, read in cases.items():
                figures[name].append(await cpu_us(read, reads))
    finally:
        await db.dispose()
    for name, values in figures.items():
        print(f"{name}: {' / '.join(f'{v:.0f}' for v in values)} us of CPU per read")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.leanread", description=__doc__)
    parser.add_argument("--reads", type=int, default=2000)
    uvloop.run(run(parser.parse_args().reads))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
