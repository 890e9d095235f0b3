"""Query plans of slow SQL: captured once per shape off the request path, with hints."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from app.apikeys import create_key
from app.cli import main
from app.config import Settings
from app.db import Database
from app.main import create_app
from app.monitoring.plans import PlanCapture, hints_for, render, sequential_scans
from tests.conftest import serve
from tests.factories.universe import make_universe
from tests.liveserver import live_server
from tests.monitoring.test_admin import post

PLAN = {
    "Node Type": "Limit",
    "Startup Cost": 0.0,
    "Total Cost": 9.5,
    "Plan Rows": 20,
    "Plans": [
        {
            "Node Type": "Index Scan",
            "Relation Name": "mentions",
            "Index Name": "ix_mentions_stock_published",
            "Startup Cost": 0.42,
            "Total Cost": 9.3,
            "Plan Rows": 20,
        },
        {
            "Node Type": "Seq Scan",
            "Relation Name": "stocks",
            "Startup Cost": 0.0,
            "Total Cost": 12.0,
            "Plan Rows": 500,
        },
    ],
}

STATS = """
query Stats {
  serverStats { busiestSql { fingerprint totalMs plan hints } slowestSql { fingerprint plan } }
}
"""


def test_a_plan_renders_one_node_a_line_indented_by_depth() -> None:
    assert render(PLAN).splitlines() == [
        "-> Limit  (cost=0.00..9.50 rows=20)",
        "  -> Index Scan on mentions using ix_mentions_stock_published  (cost=0.42..9.30 rows=20)",
        "  -> Seq Scan on stocks  (cost=0.00..12.00 rows=500)",
    ]


def test_only_a_sequential_scan_of_a_large_table_gets_a_hint() -> None:
    scans = sequential_scans(PLAN)
    assert scans == ["stocks"]
    assert hints_for(scans, {"stocks": 499.0}, large_rows=500) == ()
    [hint] = hints_for(scans, {"stocks": 2_000_000.0}, large_rows=500)
    assert hint.startswith("sequential scan of stocks (~2,000,000 rows)")


async def captured(capture: PlanCapture, count: int = 1) -> dict[str, Any]:
    for _ in range(500):
        if len(capture.plans) >= count and not capture._pending:
            break
        await asyncio.sleep(0.01)
    return dict(capture.plans)


async def test_slow_statements_get_their_plan_and_hints_in_server_stats(
    db: Database, settings: Settings, operations: dict[str, str]
) -> None:
    await make_universe(db, 3, 2)
    token, _ = await create_key(db, "ops", scopes=["read", "admin"])
    # Every statement is "slow", and any table with a row is "large".
    slow = settings.model_copy(
        update={
            "trace_slow_sql_ms": 0.001,
            "trace_sql_large_table_rows": 1,
            "trace_sql_plans": True,
            "cache_enabled": False,
            "cache_response_enabled": False,
        }
    )
    if db.dialect == "postgresql":
        async with db.engine.begin() as conn:
            await conn.execute(text("ANALYZE stocks"))  # reltuples: what the hint reads
    app = create_app(slow)
    async with serve(app) as client:
        monitor = app.state.resources.monitor
        for _ in range(2):
            assert "errors" not in await post(client, operations["StockList"])
        if db.dialect != "postgresql":
            assert monitor.plans is None  # SQLite: nothing to explain
            body = await post(client, STATS, token)
            assert all(s["plan"] is None for s in body["data"]["serverStats"]["busiestSql"])
            return
        plans = await captured(monitor.plans)
        body = await post(client, STATS, token)
    assert plans, "no plan was captured"
    assert all(p.split()[0].upper() in ("SELECT", "WITH") for p in plans)  # reads only
    stats = body["data"]["serverStats"]
    explained = [s for s in stats["busiestSql"] if s["plan"] is not None]
    assert explained
    stocks = next(s for s in explained if "FROM stocks" in s["fingerprint"])
    assert stocks["plan"].startswith("-> ")
    assert " on stocks" in stocks["plan"]
    totals = [s["totalMs"] for s in stats["busiestSql"]]
    assert totals == sorted(totals, reverse=True)


async def test_a_statement_shape_is_explained_once_with_a_hint_for_a_scanned_table(
    db: Database,
) -> None:
    if db.dialect != "postgresql":
        pytest.skip("plans are PostgreSQL's")
    await make_universe(db, 3, 0)
    async with db.engine.begin() as conn:
        await conn.execute(text("ANALYZE stocks"))
    capture = PlanCapture(db, capacity=10, large_table_rows=3)
    shape = "SELECT count(?) FROM stocks WHERE name <> ?"
    statement = "SELECT count(*) FROM stocks WHERE name <> $1"  # name has no index: a scan
    capture.offer(shape, statement, ("AAPL",))
    capture.offer(shape, statement, ("MSFT",))
    capture.offer("INSERT INTO stocks ...", "INSERT INTO stocks (symbol) VALUES ($1)", ("X",))
    plans = await captured(capture)
    await capture.close()
    assert list(plans) == [shape]
    assert "Seq Scan on stocks" in plans[shape].text
    [hint] = plans[shape].hints
    assert hint.startswith("sequential scan of stocks (~3 rows)")


async def test_sql_plans_command_lists_a_running_servers_busiest_shapes(
    db: Database, settings: Settings, operations: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    await make_universe(db, 3, 2)
    token, _ = await create_key(db, "ops", scopes=["read", "admin"])
    slow = settings.model_copy(
        update={"trace_slow_sql_ms": 0.001, "cache_enabled": False, "trace_sql_plans": True}
    )
    async with live_server(slow) as server:
        async with httpx.AsyncClient(base_url=server.http_url) as client:
            assert "errors" not in await post(client, operations["StockList"])
        monitor = server.resources.monitor
        assert monitor is not None
        if monitor.plans is not None:
            await captured(monitor.plans)
        url = f"{server.http_url}/graphql"
        code = await asyncio.to_thread(main, ["sql-plans", "--url", url, "--key", token])
        out = capsys.readouterr().out
        refused = await asyncio.to_thread(main, ["sql-plans", "--url", url, "--key", "nope"])
        err = capsys.readouterr().err
    assert code == 0
    assert out.startswith("1. ")
    assert "FROM stocks" in out
    if db.dialect == "postgresql":
        assert "   plan:\n     -> " in out
    else:
        assert "plan: none captured" in out
    assert refused == 1
    # The server runs in this process: its own log lines may share stderr with the command's.
    [line] = [x for x in err.splitlines() if x.startswith("insitechart: error: ")]
    assert "UNAUTHENTICATED" in line
    assert "Traceback" not in err


def test_sql_plans_command_needs_an_admin_key_and_a_reachable_server(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("INSITECHART_ADMIN_KEY", raising=False)
    assert main(["sql-plans", "--url", "http://127.0.0.1:9/graphql"]) == 2
    assert "admin scope" in capsys.readouterr().err
    code = main(
        ["sql-plans", "--url", "http://127.0.0.1:9/graphql", "--key", "k", "--timeout", "2"]
    )
    assert code == 1
    assert capsys.readouterr().err == (
        "insitechart: error: cannot reach http://127.0.0.1:9/graphql: ConnectError\n"
    )
