"""Partition pruning, read from the plans of the mention statements the loaders run.

A page after a cursor reads only the partitions at or before the cursor (run-time pruning: the
bound comes from the batch's keys, so the plan shows the newer partitions as never executed).
A first page has no lower bound and a mention by id has no time at all: they read every
partition (one index probe each); docs/SCALING.md says why.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import orjson
from sqlalchemy.engine import Engine

from app.config import Settings
from app.db import Database, watch_statements
from app.main import create_app
from app.monitoring.plans import plan_nodes
from app.partitions import existing, maintain, period
from app.timeutil import utcnow
from tests.conftest import graphql, serve
from tests.factories.mentions import make_mentions
from tests.factories.stocks import make_stock

PAGE = """
query Page($after: String) {
  stock(symbol: "PRUNE") {
    mentions(first: 10, after: $after) {
      pageInfo { endCursor }
      nodes { id publishedAt }
    }
  }
}
"""


@contextmanager
def captured() -> Iterator[list[tuple[str, Any]]]:
    """Every statement (with its driver parameters) that reads mentions, as the app ran it."""
    log: list[tuple[str, Any]] = []

    def record(_engine: Engine, statement: str, parameters: Any) -> None:
        if "mentions" in statement:
            log.append((statement, parameters))

    with watch_statements(record):
        yield log


async def scanned(db: Database, statement: str, parameters: Any) -> set[str]:
    """The partitions the statement actually read (a scan node executed at least once)."""
    async with db.engine.connect() as conn:
        raw = await conn.exec_driver_sql(
            "EXPLAIN (ANALYZE, FORMAT JSON) " + statement, parameters or ()
        )
        plan = raw.scalar_one()
    root = (orjson.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"]
    return {
        node["Relation Name"]
        for _, node in plan_nodes(root)
        if str(node.get("Relation Name", "")).startswith("mentions")
        and node.get("Actual Loops", 0) > 0
    }


async def test_a_page_after_a_cursor_reads_only_the_partitions_up_to_it(
    pdb: Database, pg_url: str
) -> None:
    now = utcnow()
    async with pdb.sessionmaker.begin() as session:
        stock = await make_stock(session, "PRUNE")
        # One mention every 12 hours over eight weeks: several weekly partitions.
        await make_mentions(session, stock.id, [now - timedelta(hours=12 * i) for i in range(112)])
    await maintain(pdb, now, "week", 2, 0)  # partitions for the past weeks, rows moved in
    async with pdb.engine.connect() as conn:
        spans = {name: span for name, span in (await existing(conn)).items() if span}

    settings = Settings(
        database_url=pg_url,
        cache_enabled=False,
        cache_warm_on_start=False,
        cache_warm_interval_s=0,
        mentions_partition_maintenance_s=0,
    )
    async with serve(create_app(settings)) as client:
        after = None
        for _ in range(8):  # 80 mentions back: about 40 days before now
            body = await graphql(client, PAGE, {"after": after})
            after = body["data"]["stock"]["mentions"]["pageInfo"]["endCursor"]
        with captured() as log:
            body = await graphql(client, PAGE, {"after": after})
    nodes = body["data"]["stock"]["mentions"]["nodes"]
    assert len(nodes) == 10
    cursor_at = now - timedelta(hours=12 * 79)

    assert len(log) == 1  # the page, one statement; its rows prime the by-id loader
    statement, parameters = log[0]
    read = await scanned(pdb, statement, parameters)

    window = {name for name, span in spans.items() if span.start <= cursor_at}
    newer = set(spans) - window
    assert newer, "the test needs partitions newer than the cursor"
    assert read - {"mentions_default"} <= window
    assert period(cursor_at, "week").name in read
    assert not read & newer
