"""`python -m bench partitions`: the reference mix on an unpartitioned and a partitioned copy of the
bench database in one run, and on a private primary with and without a streaming replica.

Each target runs the same deterministic requests in-process with no cache (every request runs its
SQL): p50/p95 per operation, statements per operation, and the shared buffers (hit + read) the
plans of those statements touch, from `EXPLAIN (ANALYZE, BUFFERS)` of one request per operation.
A deep page (a stock's mentions after a cursor about 20 days back) shows partition pruning.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import event
from sqlalchemy.engine import Engine

from app.config import Settings
from app.db import create_database
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

    def record(conn: Any, _cur: Any, statement: str, parameters: Any, *_: Any) -> None:
        log.append((conn.engine, statement, parameters))

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield log
    finally:
        event.remove(Engine, "before_cursor_execute", record)


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


async def measure(target: Target, reqs: list[Request], concurrency: int) -> dict[str, Any]:
    settings = bench_settings(
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
    app = create_app(settings)
    timings: dict[str, list[float]] = {}
    per_op: dict[str, dict[str, Any]] = {}
    async with in_process(app) as client:
        resources: Resources = app.state.resources
        if resources.replicas is not None:
            for _ in range(100):
                await resources.replicas.check()
                if all(r.healthy for r in resources.replicas.replicas):
                    break
                await asyncio.sleep(0.2)
            else:
                raise RuntimeError(f"replica of {target.label} never became healthy")
        firsts: dict[str, Request] = {}
        for r in reqs:  # warm each shape, and keep one request per operation for the plans
            firsts.setdefault(r.name, r)
            await execute(client, r)
        for name, r in firsts.items():
            with captured() as log:
                body = await execute(client, r)
            if "errors" in body:
                raise RuntimeError(f"{name} on {target.label}: {body['errors'][0]}")
            servers = sorted({e.url.port or 5432 for e, _, _ in log})
            per_op[name] = {
                "statements": len(log),
                "buffers": await buffers(settings, log),
                "ports": servers,
            }
        queue = list(reqs) * 3
        started = time.perf_counter()

        async def worker() -> None:
            while queue:
                r = queue.pop()
                t0 = time.perf_counter()
                await execute(client, r)
                timings.setdefault(r.name, []).append((time.perf_counter() - t0) * 1000)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    for name, ms in timings.items():
        ms.sort()
        per_op[name]["p50_ms"] = round(statistics.median(ms), 2)
        per_op[name]["p95_ms"] = round(ms[int(0.95 * (len(ms) - 1))], 2)
        per_op[name]["n"] = len(ms)
    return {"label": target.label, "ops": per_op, "rps": round(len(reqs) * 3 / elapsed, 1)}


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
        rows.append([result["label"], "(all) req/s", result["rps"], "", "", "", "", ""])
    header = ["target", "operation", "p50 ms", "p95 ms", "p50 vs 1st", "stmts", "buffers", "port"]
    return table(header, rows)


async def run(targets: list[Target], stocks: int, per_op: int, concurrency: int) -> dict[str, Any]:
    reqs = requests(read_operations(), stocks, per_op)
    results = [await measure(t, reqs, concurrency) for t in targets]
    return {
        "command": "partitions",
        "at": now_iso(),
        "machine": machine(),
        "requests_per_target": len(reqs) * 3,
        "concurrency": concurrency,
        "targets": results,
    }
