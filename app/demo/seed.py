"""Load the S&P 500 and generated, VADER-scored chatter into the database, batch by batch.

Idempotent: mention `i` has the external id `seed-<i>` (unique with its source), so a second run
of the same size adds nothing, an interrupted run resumes where it stopped, and `append` continues
after the highest index stored. Each batch is one transaction of bounded size, so memory stays
flat whatever the total.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, cast, func, inspect, select, text
from sqlalchemy.dialects import postgresql, sqlite

from app.db import Database
from app.demo.chatter import Listing, Plan, generate, make_plan, popularity_order, short_name
from app.demo.universe import Company, load_universe
from app.models import Mention, Stock
from app.store import store_mentions
from app.timeutil import utcnow

EXTERNAL_ID_PREFIX = "seed-"
MAX_MENTIONS = 50_000_000
MAX_DAYS = 365
MAX_BATCH = 50_000


class SeedError(ValueError):
    """A seed option is out of range; the message names the option and its limit."""


@dataclass(frozen=True, slots=True)
class SeedOptions:
    mentions: int = 40_000
    days: int = 14
    stocks: int | None = None
    batch_size: int = 2_000
    random_seed: int = 42
    append: bool = False

    def check(self, universe_size: int) -> None:
        if not 0 <= self.mentions <= MAX_MENTIONS:
            raise SeedError(f"--mentions must be between 0 and {MAX_MENTIONS}, got {self.mentions}")
        if not 1 <= self.days <= MAX_DAYS:
            raise SeedError(f"--days must be between 1 and {MAX_DAYS}, got {self.days}")
        if self.stocks is not None and not 1 <= self.stocks <= universe_size:
            raise SeedError(f"--stocks must be between 1 and {universe_size}, got {self.stocks}")
        if not 1 <= self.batch_size <= MAX_BATCH:
            raise SeedError(
                f"--batch-size must be between 1 and {MAX_BATCH}, got {self.batch_size}"
            )


@dataclass(frozen=True, slots=True)
class SeedReport:
    stocks: int
    stocks_added: int
    first_index: int
    stop_index: int
    mentions_added: int
    elapsed_s: float

    @property
    def rows_per_s(self) -> float:
        return self.mentions_added / self.elapsed_s if self.elapsed_s > 0 else 0.0


def _insert(db: Database, table: Any) -> postgresql.Insert | sqlite.Insert:
    return postgresql.insert(table) if db.dialect == "postgresql" else sqlite.insert(table)


async def upsert_stocks(db: Database, companies: Sequence[Company]) -> int:
    """Insert the companies not stored yet (by symbol); return how many were new."""
    rows = [
        {
            "symbol": c.symbol,
            "name": c.name,
            "exchange": c.exchange,
            "sector": c.sector,
            "industry": c.industry,
        }
        for c in companies
    ]
    stmt = _insert(db, Stock.__table__).on_conflict_do_nothing(index_elements=["symbol"])
    async with db.sessionmaker.begin() as session:
        result = await session.execute(stmt.returning(Stock.__table__.c.id), rows)
        return len(result.all())


async def load_listings(db: Database, companies: Sequence[Company]) -> list[Listing]:
    """The companies as stored (with their ids), in the order given."""
    symbols = [c.symbol for c in companies]
    async with db.sessionmaker() as session:
        result = await session.execute(
            select(Stock.symbol, Stock.id).where(Stock.symbol.in_(symbols))
        )
        ids: dict[str, int] = {row.symbol: row.id for row in result}
    return [
        Listing(ids[c.symbol], c.symbol, short_name(c.name), c.sector or "the market")
        for c in companies
    ]


async def next_seed_index(db: Database) -> int:
    """One past the highest `seed-<i>` stored, 0 when there is none."""
    number = cast(func.substr(Mention.external_id, len(EXTERNAL_ID_PREFIX) + 1), BigInteger)
    ours = (
        Mention.external_id.like(f"{EXTERNAL_ID_PREFIX}%"),
        # Ingested mentions may use the same prefix; only `seed-<digits>` ids are the seed's.
        Mention.external_id.regexp_match(f"^{EXTERNAL_ID_PREFIX}[0-9]{{1,18}}$"),
    )
    async with db.sessionmaker() as session:
        highest = await session.scalar(select(func.max(number)).where(*ours))
    return 0 if highest is None else int(highest) + 1


def _generate_soon(
    plan: Plan, bounds: tuple[int, int] | None
) -> asyncio.Future[list[dict[str, Any]]] | None:
    if bounds is None:
        return None
    low, high = bounds
    return asyncio.ensure_future(asyncio.to_thread(lambda: list(generate(plan, low, high))))


async def store_generated(
    db: Database,
    plan: Plan,
    first: int,
    stop: int,
    batch_size: int,
    on_batch: Callable[[int], None] | None = None,
) -> int:
    """Generate, score and store mentions `first` .. `stop - 1`, a transaction per batch.

    The next batch is generated in a thread while the database stores this one, so at most
    two batches are in memory at any time. Returns how many mentions were new.
    """
    batches = ((low, min(low + batch_size, stop)) for low in range(first, stop, batch_size))
    pending = _generate_soon(plan, next(batches, None))
    added = 0
    try:
        while pending is not None:
            rows = await pending
            pending = _generate_soon(plan, next(batches, None))
            async with db.sessionmaker.begin() as session:
                if db.dialect == "postgresql":
                    # Demo data can be regenerated and a run resumed: do not wait for fsync.
                    await session.execute(text("SET LOCAL synchronous_commit TO OFF"))
                added += len(await store_mentions(session, rows))
            if on_batch is not None:
                on_batch(len(rows))
    finally:
        if pending is not None:  # a batch failed: let the next one finish, then drop it
            await asyncio.wait([pending])
            pending.exception()
    return added


async def _has_tables(db: Database) -> bool:
    async with db.engine.connect() as conn:
        return await conn.run_sync(lambda c: inspect(c).has_table(Mention.__tablename__))


async def count_mentions(db: Database) -> int:
    async with db.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(Mention)) or 0)


async def seed(
    db: Database,
    options: SeedOptions,
    *,
    now: datetime | None = None,
    on_batch: Callable[[int], None] | None = None,
    on_plan: Callable[[int, int], None] | None = None,
) -> SeedReport:
    """Store the universe and mentions up to `options.mentions` (or that many more with append).

    `on_plan(first, stop)` is told the index range before any mention is generated;
    `on_batch(n)` after each committed batch of n generated mentions.
    """
    universe = load_universe()
    options.check(len(universe))
    if not await _has_tables(db):
        raise SeedError("the database has no tables; run `insitechart migrate` first")
    began = time.perf_counter()
    ranked = popularity_order(universe, random.Random(options.random_seed))
    companies = ranked[: options.stocks] if options.stocks else ranked
    stocks_added = await upsert_stocks(db, companies)
    listings = await load_listings(db, companies)
    plan = make_plan(options.random_seed, listings, options.days, now or utcnow())

    resume = await next_seed_index(db)
    first = resume if options.append else min(resume, options.mentions)
    stop = first + options.mentions if options.append else options.mentions
    if on_plan is not None:
        on_plan(first, stop)
    added = await store_generated(db, plan, first, stop, options.batch_size, on_batch)
    return SeedReport(
        stocks=len(listings),
        stocks_added=stocks_added,
        first_index=first,
        stop_index=stop,
        mentions_added=added,
        elapsed_s=time.perf_counter() - began,
    )
