"""`python -m bench.faults`: what each fault costs a request, and how long recovery takes.

One app (in-process ASGI, one worker) on a throwaway PostgreSQL database reached through a TCP
relay, and a private redis-server. Sequential keyed reads; each scenario reports request latency
before and during the fault (median and worst, and the ratio of medians) and the time from the
fault's end to the first request served normally again.

    python -m bench.faults --server postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import httpx
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.engine import make_url

from app import migrate
from app.apikeys import create_key
from app.config import Settings
from app.db import Database, create_database
from app.main import create_app
from tests.cache.proxy import Relay
from tests.factories.stocks import make_stock
from tests.faults.services import RedisServer

ONE_STOCK = '{ stock(symbol: "AAPL") { symbol name sentiment { compoundScore } } }'
FEED = '{ stock(symbol: "AAPL") { mentions(first: 5) { nodes { text } } } }'


@asynccontextmanager
async def scratch_database(server: str) -> AsyncIterator[str]:
    url = make_url(server)
    name = f"insitechart_faults_{uuid.uuid4().hex[:8]}"
    params = {"host": url.host, "port": url.port or 5432, "user": url.username}
    conn = await asyncpg.connect(**params, database=url.database or "postgres")
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    scratch = url.set(drivername="postgresql+asyncpg", database=name)
    try:
        yield scratch.render_as_string(hide_password=False)
    finally:
        conn = await asyncpg.connect(**params, database=url.database or "postgres")
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


async def timed(call: Callable[[], Awaitable[httpx.Response]]) -> tuple[float, int]:
    started = time.perf_counter()
    response = await call()
    return (time.perf_counter() - started) * 1000, response.status_code


def summary(label: str, samples: list[tuple[float, int]], baseline: float | None = None) -> float:
    ms = [s for s, _ in samples]
    median = statistics.median(ms)
    codes = sorted({c for _, c in samples})
    ratio = f", x{median / baseline:.2f} of baseline" if baseline else ""
    print(f"  {label}: median {median:.1f} ms, worst {max(ms):.1f} ms, statuses {codes}{ratio}")
    return median


async def recovery(
    client: httpx.AsyncClient, ok: Callable[[httpx.Response], bool], limit_s: float = 30
) -> float:
    """Seconds until a request is answered normally, polling every 20 ms."""
    started = time.perf_counter()
    while time.perf_counter() - started < limit_s:
        if ok(await client.post("/graphql", json={"query": ONE_STOCK})):
            return time.perf_counter() - started
        await asyncio.sleep(0.02)
    return float("inf")


async def run(server: str, rounds: int, outage_s: float) -> None:
    async with scratch_database(server) as url:
        db = create_database(Settings(database_url=url))
        await migrate.upgrade(db)
        async with db.sessionmaker.begin() as session:
            await make_stock(session, "AAPL")
        token, _ = await create_key(db, "bench", scopes=["read"])
        target = make_url(url)
        relay = Relay(target.host or "127.0.0.1", target.port or 5432)
        await relay.start()
        relayed = target.set(host="127.0.0.1", port=relay.port).render_as_string(
            hide_password=False
        )
        with tempfile.TemporaryDirectory() as workdir:
            redis = RedisServer(Path(workdir))
            await redis.start()
            settings = Settings(
                database_url=relayed,
                redis_url=redis.url,
                log_level="error",
                cache_warm_on_start=False,
                cache_warm_interval_s=0,
                statement_timeout_ms=1000,
            )
            try:
                await scenarios(create_app(settings), db, relay, redis, token, rounds, outage_s)
                await pre_ping_cost(url, token, rounds * 5)
            finally:
                redis.stop()
                await relay.stop()
                await db.dispose()


async def scenarios(
    app: FastAPI,
    db: Database,
    relay: Relay,
    redis: RedisServer,
    token: str,
    rounds: int,
    outage_s: float,
) -> None:
    keyed = {"Authorization": f"Bearer {token}"}
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:

            def read() -> Awaitable[httpx.Response]:
                return client.post("/graphql", json={"query": ONE_STOCK}, headers=keyed)

            breaker = app.state.resources.redis.breaker
            base = [await timed(read) for _ in range(rounds)]
            print("baseline (Redis and PostgreSQL up)")
            baseline = summary("keyed read", base)

            print(f"Redis frozen (SIGSTOP) for {rounds} requests")
            redis.freeze()
            frozen = [await timed(read) for _ in range(rounds)]
            redis.thaw()
            summary("keyed read", frozen, baseline)

            print(f"Redis killed (SIGKILL) for {outage_s:g} s, then restarted")
            await asyncio.sleep(breaker.cooldown_s)  # let the frozen episode's circuit close
            redis.kill()
            killed = [await timed(read) for _ in range(rounds)]
            summary("keyed read", killed, baseline)
            await asyncio.sleep(outage_s)
            await redis.start()
            back = time.perf_counter()
            while breaker.is_open:
                await read()
                await asyncio.sleep(0.02)
            print(
                f"  traffic alone closes the circuit {time.perf_counter() - back:.2f} s after "
                f"Redis is back (CACHE_BREAKER_COOLDOWN_S={breaker.cooldown_s:g})"
            )

            print(f"PostgreSQL cut off (relay closed) for {outage_s:g} s")
            await relay.stop()
            down = [await timed(read) for _ in range(rounds)]
            summary("keyed read", down, baseline)
            await asyncio.sleep(outage_s)
            await relay.start()
            healed = await recovery(client, lambda r: r.status_code == 200)
            print(f"  first 200 {healed:.2f} s after PostgreSQL is reachable again")

            print("mentions locked (LOCK TABLE ... ACCESS EXCLUSIVE), STATEMENT_TIMEOUT_MS=1000")
            async with db.engine.connect() as locker:
                await locker.execute(text("LOCK TABLE mentions IN ACCESS EXCLUSIVE MODE"))
                locked = [
                    await timed(lambda: client.post("/graphql", json={"query": FEED}))
                    for _ in range(3)
                ]
                await locker.rollback()
            summary("feed read (answers TIMEOUT)", locked, baseline)


async def pre_ping_cost(url: str, token: str, rounds: int) -> None:
    """What DB_POOL_PRE_PING costs a keyed read that misses every cache (one check per checkout)."""
    print(f"DB_POOL_PRE_PING on vs off ({rounds} keyed reads each, field cache off, alternated)")
    medians: dict[bool, list[float]] = {True: [], False: []}
    for pre_ping in (False, True, False, True):
        settings = Settings(
            database_url=url,
            log_level="error",
            cache_enabled=False,
            db_pool_pre_ping=pre_ping,
        )
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:

                def read(c: httpx.AsyncClient = client) -> Awaitable[httpx.Response]:
                    keyed = {"Authorization": f"Bearer {token}"}
                    return c.post("/graphql", json={"query": FEED}, headers=keyed)

                samples = [await timed(read) for _ in range(rounds)]
        medians[pre_ping].append(statistics.median(ms for ms, _ in samples))
    off, on = statistics.mean(medians[False]), statistics.mean(medians[True])
    print(f"  median off {off:.2f} ms, on {on:.2f} ms, x{on / off:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--rounds", type=int, default=40, help="requests per phase")
    parser.add_argument("--outage", type=float, default=3.0, help="seconds each outage lasts")
    args = parser.parse_args()
    # Strawberry logs every resolver error with its traceback; the figures are the point here.
    logging.getLogger("strawberry.execution").setLevel(logging.CRITICAL)
    asyncio.run(run(args.server, args.rounds, args.outage))


if __name__ == "__main__":
    main()
