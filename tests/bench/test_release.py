"""Per-request state is released: after many requests no loader, context or session survives."""

from __future__ import annotations

import gc

from aiodataloader import DataLoader
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db import Database
from app.main import create_app
from app.timeutil import utcnow
from bench.config import bench_settings, read_operations
from bench.sqlcount import in_process
from bench.workload import Workload
from loaders import LoaderEnv, Loaders
from schema.context import Context
from tests.factories.universe import make_universe

PER_REQUEST = (Loaders, DataLoader, Context, AsyncSession)


def alive() -> dict[str, int]:
    gc.collect()
    counts = dict.fromkeys((t.__name__ for t in PER_REQUEST), 0)
    for obj in gc.get_objects():
        for kind in PER_REQUEST:
            if isinstance(obj, kind):
                counts[kind.__name__] += 1
    return counts


async def test_no_loader_context_or_session_survives_its_request(
    db: Database, settings: Settings
) -> None:
    await make_universe(db, 5, 3)
    workload = Workload(read_operations(), 5, seed=11)
    async with in_process(create_app(bench_settings(settings))) as client:
        for _ in range(300):
            request = workload.next()
            response = await client.post(
                "/graphql", json={"query": request.query, "variables": request.variables}
            )
            assert response.status_code == 200
            assert "errors" not in response.json(), (request, response.json())
        during = alive()
    assert during == dict.fromkeys(during, 0)


async def test_the_count_sees_loaders_that_are_kept(db: Database) -> None:
    """The check above can fail: loaders kept past their request are counted."""
    kept = Loaders.build(LoaderEnv(db=db, now=utcnow()))
    assert kept.stock_by_symbol.by_id is kept.stock_by_id  # built at first use, shared
    counts = alive()
    assert counts["Loaders"] == 1
    assert counts["DataLoader"] == len(kept.built()) == 2  # a loader and the one it primes
