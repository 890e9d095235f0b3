"""Run one operation through the compiled executor and through graphql-core's, and compare."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
import strawberry

from app.config import Settings
from app.db import Database
from app.resources import Resources
from loaders import LoaderEnv, Loaders
from schema.auth import Principal
from schema.compiled import CompiledExecutor, fields
from schema.context import Context
from schema.limits import DocumentLimits, StaticLimits
from schema.mutation import Mutation
from schema.query import Query
from tests.sqlcount import count_statements

# graphql-core's own runs may order errors differently when loaders finish in another order
# (two batches on two connections): a compiled result must equal one of a few reference runs.
REFERENCE_RUNS = 4
UNLIMITED = StaticLimits(
    max_depth=100,
    max_aliases=10_000,
    max_tokens=100_000,
    max_document_bytes=1_000_000,
    max_root_fields=1_000,
    max_directives_per_field=100,
    max_selections=100_000,
)


def formatted(result: Any) -> dict[str, Any]:
    """What a client sees of an ExecutionResult: its data, and its errors when there are any."""
    out: dict[str, Any] = {"data": result.data}
    if result.errors:
        out["errors"] = [error.formatted for error in result.errors]
    return out


def count_executed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The type of every object whose fields the compiled executor executes from now on (a kept
    completion, schema/compiled/objects.py, executes none)."""
    executed: list[str] = []
    execute_fields = fields.execute_fields

    def counted(ex: Any, plan: Any, source: Any, path: Any) -> Any:
        executed.append(plan.type.name)
        return execute_fields(ex, plan, source, path)

    monkeypatch.setattr(fields, "execute_fields", counted)
    return executed


def bare_schemas() -> tuple[strawberry.Schema, strawberry.Schema]:
    """The public types without Strawberry's extensions (errors unmasked): compiled, then
    graphql-core."""
    # DocumentLimits parses through a cache by text, so plans are reused as in the app.
    compiled = strawberry.Schema(
        query=Query,
        mutation=Mutation,
        execution_context_class=CompiledExecutor,
        extensions=[lambda: DocumentLimits(UNLIMITED)],
    )
    return compiled, strawberry.Schema(query=Query, mutation=Mutation)


@dataclass(frozen=True)
class Outcome:
    """What a client sees (ExecutionResult.formatted) and the SQL statements it took."""

    formatted: dict[str, Any]
    statements: int


async def execute(
    schema: strawberry.Schema,
    settings: Settings,
    db: Database,
    now: datetime,
    query: str,
    variables: dict[str, Any] | None = None,
) -> Outcome:
    context = Context(
        resources=Resources(settings=settings, db=db),
        principal=Principal.anonymous("203.0.113.18"),
        loaders=Loaders.build(LoaderEnv(db=db, now=now)),
    )
    before = asyncio.all_tasks()
    with count_statements() as log:
        try:
            result = await schema.execute(query, variables, context_value=context)
        except asyncio.CancelledError:
            # graphql-core lets it out too: a sibling's non-null error cancels a task awaiting a
            # loader future that another field awaits as well (aiodataloader shares it).
            result = None
        # Loader batches a propagated null left running still count, before the next run.
        await settle(asyncio.all_tasks() - before)
    if result is None:
        return Outcome({"raised": "CancelledError"}, log.count)
    formatted: dict[str, Any] = {"data": result.data}
    if result.errors:
        formatted["errors"] = [error.formatted for error in result.errors]
    return Outcome(formatted, log.count)


async def compare(
    schemas: tuple[strawberry.Schema, strawberry.Schema],
    settings: Settings,
    db: Database,
    now: datetime,
    query: str,
    variables: dict[str, Any] | None = None,
) -> tuple[Outcome, list[Outcome]]:
    """The compiled outcome and the reference outcomes it was compared with (see `agrees`)."""
    compiled_schema, reference_schema = schemas
    compiled = await execute(compiled_schema, settings, db, now, query, variables)
    references: list[Outcome] = []
    for _ in range(REFERENCE_RUNS):
        references.append(await execute(reference_schema, settings, db, now, query, variables))
        if agrees(compiled, references):
            break
    return compiled, references


def agrees(compiled: Outcome, references: list[Outcome]) -> bool:
    """What a client sees equals what graphql-core gave in one of its runs."""
    return any(r.formatted == compiled.formatted for r in references)


def raced(compiled: Outcome, references: list[Outcome]) -> bool:
    """The same data and the same nulled positions, in the same order, as one of graphql-core's
    runs, with another error reported at a position where two errors raced to null it.

    Two non-null errors under one nullable field (or the root) null it once: the first to arrive
    is reported, the other dropped. graphql-core's first is the one its tasks reach first (the
    shallower task nesting); the compiled plan's, the first in document order, which is also
    graphql-js's for resolvers that fail at once. Any other difference is a disagreement.
    """
    for reference in references:
        data = reference.formatted.get("data")
        if compiled.formatted.get("data") != data:
            continue
        ours = compiled.formatted.get("errors", [])
        theirs = reference.formatted.get("errors", [])
        if len(ours) != len(theirs):
            continue
        nulled = [(nulled_position(data, e["path"]), nulled_position(data, f["path"]))
                  for e, f in zip(ours, theirs, strict=True)]  # fmt: skip
        if all(a == b for a, b in nulled) and ours != theirs:
            return True
    return False


def nulled_position(data: Any, path: list[str | int]) -> tuple[str | int, ...]:
    """The position an error nulled: the shortest prefix of its path that is null in `data`."""
    value = data
    for depth, key in enumerate(path):
        if value is None:
            return tuple(path[:depth])
        value = value[key]
    return tuple(path)


async def settle(tasks: set[asyncio.Task[Any]]) -> None:
    current = asyncio.current_task()
    pending = {t for t in tasks if t is not current and not t.done()}
    if pending:
        await asyncio.wait(pending, timeout=5)
