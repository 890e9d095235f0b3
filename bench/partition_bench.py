"""`python -m bench partitions`: the reference mix on an unpartitioned and a partitioned copy of the
bench database in one run, and on a private primary with and without a streaming replica.

Every target runs the same deterministic requests in-process with no cache (every request runs its
SQL), one request at a time and each request on every target in turn, so the machine's load hits
all targets alike: p50/p95 per operation, statements per operation, and the shared buffers (hit +
read) the plans of those statements touch, from `EXPLAIN (ANALYZE, BUFFERS)` of one request each.
A deep page (a stock's mentions after a cursor about 20 days back) shows partition pruning.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
from fastapi import FastAPI
from sqlalchemy.engine import Engine

from app.config import Settings
from app.db import create_database, watch_statements
from app.main import create_app
from app.resources import Resources
from bench.config import bench_settings, read_operations
from bench.report import machine, now_iso, table
from bench.sqlcount import execute, in_process
from bench.workload import MIX, Request, Workload
from schema.cursors import encode_mention

DEEP_PAGE = """
query DeepPage($symbol: String!, $after: String) {
  stock(symbol: $symbol) { mentions(first: 20, after: $after) { nodes { id publishedAt } } }
}
"""


@dataclass(frozen=True, slots=True)
class Target:
    label: str
    url: str
    replica_url: str | None = None


@contextmanager
def captured() -> Iterator[list[tuple[Engine, str, Any]]]:
    log: list[tuple[Engine, str, Any]] = []

    def record(engine: Engine, statement: str, parameters: Any) -> None:
        log.append((engine, statement, parameters))

    with watch_statements(record):
        yield log


def requests(operations: dict[str, str], stocks: int, per_op: int) -> list[Request]:
    """The same requests for every target: `per_op` of each operation of the mix, and deep pages."""
    workload = Workload(operations, stocks, seed=7)
    out = [workload.request(name) for name in MIX for _ in range(per_op)]
    deep_at = datetime.now(UTC) - timedelta(days=20)
    for i in range(per_op):
        symbol = f"S{(i * 7919) % stocks:03d}"
        after = encode_mention(deep_at - timedelta(minutes=i), 2**62)
        out.append(Request("DeepPage", DEEP_PAGE, {"symbol": symbol, "after": after}))
    return out


async def buffers(settings: Settings, statements: list[tuple[Engine, str, Any]]) -> int:
    """Shared buffers hit + read by the plans of these statements, on the server they ran on."""
    total = 0
    urls = {str(engine.url.render_as_string(hide_password=False)) for engine, _, _ in statements}
    dbs = {u: create_database(settings.model_copy(update={"database_url": u})) for u in urls}
    try:
        for engine, statement, parameters in statements:
            if not statement.lstrip().upper().startswith(("SELECT", "WITH")):
                continue
            db = dbs[str(engine.url.render_as_string(hide_password=False))]
            async with db.engine.connect() as conn:
                raw = await conn.exec_driver_sql(
                    "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + statement, parameters or ()
                )
                plan = raw.scalar_one()
            root = (orjson.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"]
            total += int(root.get("Shared Hit Blocks", 0)) + int(root.get("Shared Read Blocks", 0))
    finally:
        for db in dbs.values():
            await db.dispose()
    return total


def target_settings(target: Target) -> Settings:
    return bench_settings(
        Settings(
            database_url=target.url,
            database_replica_urls=[target.replica_url] if target.replica_url else [],
            redis_url=None,
            cache_enabled=False,
            cache_warm_on_start=False,
            cache_warm_interval_s=0,
            mentions_partition_maintenance_s=0,
            statement_timeout_ms=0,
            log_level="error",
            trace_sql_plans=False,  # no background EXPLAIN competing with the measured requests
        )
    )


async def healthy(app: FastAPI, label: str) -> None:
    resources: Resources = app.state.resources
    if resources.replicas is None:
        return
    for _ in range(100):
        await resources.replicas.check()
        if all(r.healthy for r in resources.replicas.replicas):
            return
        await asyncio.sleep(0.2)
    raise RuntimeError(f"the replica of {label} never became healthy")


async def profile(target: Target, client: httpx.AsyncClient, reqs: list[Request]) -> dict[str, Any]:
    """Statements, plan buffers and the servers used, of one request per operation."""
    firsts: dict[str, Request] = {}
    for r in reqs:
        firsts.setdefault(r.name, r)
    per_op: dict[str, dict[str, Any]] = {}
    for name, r in firsts.items():
        with captured() as log:
            body = await execute(client, r)
        if "errors" in body:
            raise RuntimeError(f"{name} on {target.label}: {body['errors'][0]}")
        per_op[name] = {
            "statements": len(log),
            "buffers": await buffers(target_settings(target), log),
            "ports": sorted({e.url.port or 5432 for e, _, _ in log}),
        }
    return per_op


async def measure(targets: list[Target], reqs: list[Request], rounds: int) -> list[dict[str, Any]]:
    """Each request on every target in turn, so a change in the machine's load hits all alike."""
    apps = [create_app(target_settings(t)) for t in targets]
    timings: list[dict[str, list[float]]] = [{} for _ in targets]
    async with contextlib.AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(in_process(app)) for app in apps]
        for app, target in zip(apps, targets, strict=True):
            await healthy(app, target.label)
        for client in clients:  # warm every shape: parser, pool, prepared statements
            for r in reqs:
                await execute(client, r)
        results: list[dict[str, Any]] = [
            {"label": t.label, "ops": await profile(t, c, reqs)}
            for t, c in zip(targets, clients, strict=True)
        ]
        for _ in range(rounds):
            for r in reqs:
                for i, client in enumerate(clients):
                    t0 = time.perf_counter()
                    await execute(client, r)
                    timings[i].setdefault(r.name, []).append((time.perf_counter() - t0) * 1000)
    for result, per_target in zip(results, timings, strict=True):
        for name, ms in per_target.items():
            ms.sort()
            op: dict[str, Any] = result["ops"][name]
            op["p50_ms"] = round(statistics.median(ms), 2)
            op["p95_ms"] = round(ms[int(0.95 * (len(ms) - 1))], 2)
            op["n"] = len(ms)
    return results


def render(report: dict[str, Any]) -> str:
    base = report["targets"][0]
    rows = []
    for result in report["targets"]:
        for name, op in sorted(result["ops"].items()):
            ref = base["ops"][name]
            rows.append(
                [
                    result["label"],
                    name,
                    op["p50_ms"],
                    op["p95_ms"],
                    f"{op['p50_ms'] / ref['p50_ms']:.2f}x",
                    op["statements"],
                    op["buffers"],
                    ",".join(str(p) for p in op["ports"]),
                ]
            )
    header = ["target", "operation", "p50 ms", "p95 ms", "p50 vs 1st", "stmts", "buffers", "port"]
    return table(header, rows)


async def run(targets: list[Target], stocks: int, per_op: int, rounds: int) -> dict[str, Any]:
    reqs = requests(read_operations(), stocks, per_op)
    return {
        "command": "partitions",
        "at": now_iso(),
        "machine": machine(),
        "requests_per_target": len(reqs) * rounds,
        "targets": await measure(targets, reqs, rounds),
    }
