"""Query plans of slow SQL: one `EXPLAIN` per slow statement shape, taken off the request path.

When a statement crosses the slow-SQL threshold for the first time, its text and parameters are
handed to a background task that runs `EXPLAIN (FORMAT JSON)` on a connection of its own (never
`ANALYZE`: nothing is executed again) and keeps the plan, rendered as text, with hints such as a
sequential scan of a large table. Only PostgreSQL reads (SELECT / WITH) are explained; the
parameters are used for the EXPLAIN and dropped, never stored or logged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from app.db import Database
from app.monitoring.sql import background

log = logging.getLogger("insitechart.sql")

MAX_PENDING = 4  # EXPLAINs under way at once: a burst of new slow shapes queues no more work
READS = ("SELECT", "WITH")


@dataclass(frozen=True, slots=True)
class Plan:
    fingerprint: str
    text: str  # the plan as indented lines, one node a line
    hints: tuple[str, ...]
    captured_at: float  # epoch seconds


def plan_nodes(node: dict[str, Any], depth: int = 0) -> Iterator[tuple[int, dict[str, Any]]]:
    """Every node of an EXPLAIN (FORMAT JSON) plan with its depth, parents first."""
    yield depth, node
    for child in node.get("Plans", ()):
        yield from plan_nodes(child, depth + 1)


def render(root: dict[str, Any]) -> str:
    lines = []
    for depth, node in plan_nodes(root):
        relation, index = node.get("Relation Name"), node.get("Index Name")
        lines.append(
            f"{'  ' * depth}-> {node.get('Node Type', '?')}"
            f"{f' on {relation}' if relation else ''}{f' using {index}' if index else ''}"
            f"  (cost={node.get('Startup Cost', 0):.2f}..{node.get('Total Cost', 0):.2f}"
            f" rows={node.get('Plan Rows', 0)})"
        )
    return "\n".join(lines)


def sequential_scans(root: dict[str, Any]) -> list[str]:
    """Relations the plan reads with a sequential scan."""
    return [
        str(node["Relation Name"])
        for _, node in plan_nodes(root)
        if node.get("Node Type") == "Seq Scan" and node.get("Relation Name")
    ]


def hints_for(scans: Sequence[str], sizes: dict[str, float], large_rows: int) -> tuple[str, ...]:
    return tuple(
        f"sequential scan of {relation} (~{int(sizes[relation]):,} rows): index the columns "
        "it filters or orders on, or narrow the statement's window"
        for relation in dict.fromkeys(scans)
        if sizes.get(relation, 0) >= large_rows
    )


class PlanCapture:
    """At most `capacity` plans, one per fingerprint, least recently captured evicted."""

    def __init__(self, db: Database, capacity: int, large_table_rows: int) -> None:
        self.db = db
        self.capacity = capacity
        self.large_table_rows = large_table_rows
        self.plans: OrderedDict[str, Plan] = OrderedDict()
        self._pending: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        # Where plans are taken: a healthy read replica when there are any (set by the
        # resources), so diagnosing never loads the primary; else the primary.
        self.reader: Callable[[], Database] | None = None

    def get(self, fingerprint: str) -> Plan | None:
        return self.plans.get(fingerprint)

    def offer(self, fingerprint: str, statement: str, parameters: Any) -> None:
        """Called from the slow-SQL hook, inside the event loop: explain this shape later."""
        if (
            self.db.dialect != "postgresql"
            or fingerprint in self.plans
            or fingerprint in self._pending
            or len(self._pending) >= MAX_PENDING
            or not statement.lstrip()[:6].upper().startswith(READS)
        ):
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # a statement run outside the loop (a CLI's sync path): nothing to schedule on
        self._pending.add(fingerprint)
        task = loop.create_task(self._capture(fingerprint, statement, parameters))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _capture(self, fingerprint: str, statement: str, parameters: Any) -> None:
        try:
            with background("query plan"):  # its own statements never count as slow requests
                root, sizes = await self._explain(statement, parameters)
        except Exception as exc:  # a plan is a diagnosis: its failure must not become one
            log.info("no plan for a slow statement (%s)", type(exc).__name__)
            return
        finally:
            self._pending.discard(fingerprint)
        hints = hints_for(sequential_scans(root), sizes, self.large_table_rows)
        self.plans[fingerprint] = Plan(fingerprint, render(root), hints, time.time())
        if len(self.plans) > self.capacity:
            self.plans.popitem(last=False)

    async def _explain(
        self, statement: str, parameters: Any
    ) -> tuple[dict[str, Any], dict[str, float]]:
        db = self.reader() if self.reader is not None else self.db
        async with db.engine.connect() as conn:
            explained = await conn.exec_driver_sql(
                "EXPLAIN (FORMAT JSON) " + statement, parameters or ()
            )
            raw = explained.scalar_one()
            document = orjson.loads(raw) if isinstance(raw, str | bytes) else raw
            root: dict[str, Any] = document[0]["Plan"]
            scanned = sorted(set(sequential_scans(root)))
            sizes: dict[str, float] = {}
            if scanned:
                rows = await conn.exec_driver_sql(
                    "SELECT relname, reltuples FROM pg_class WHERE relname = ANY($1)", (scanned,)
                )
                sizes = {str(m["relname"]): float(m["reltuples"]) for m in rows.mappings()}
            await conn.rollback()
        return root, sizes

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
