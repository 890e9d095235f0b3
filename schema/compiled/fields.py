"""Running a plan's fields: the steps of graphql-core's executor, with the interpretation gone.

Every function here mirrors one of `graphql.execution.executor.Executor`, with pending values as
promises (promise.py): an object's or a list's are gathered by a `Gather`, which fails on the first
error and cancels the rest as `gather_with_cancel` does, so DataLoader batches, errors and the
cancellation of siblings when a non-null error propagates are graphql-core's. What goes: collecting
fields, looking up definitions and coercing literal arguments per object, building a path and a
resolve info for fields that need neither (attribute fields), the chain of type checks per value,
and a coroutine and a task per pending field, object and list item.
"""

from __future__ import annotations

import datetime as dt
import time
from inspect import isawaitable
from typing import TYPE_CHECKING, Any

from graphql.pyutils import Path, async_reduce
from graphql.type.scalars import GRAPHQL_MAX_INT as MAX_INT
from graphql.type.scalars import GRAPHQL_MIN_INT as MIN_INT

from app.monitoring.collector import RequestTrace, current_trace
from schema.compiled.plan import FieldPlan, ObjectPlan
from schema.compiled.prefetch import pending_loads, settled
from schema.compiled.promise import PROMISES, Gather, Promise, Step, as_promise, field_promise
from schema.timing import record

if TYPE_CHECKING:
    from schema.compiled.executor import CompiledExecutor

# Classes whose values are never awaitable: Strawberry's fast path, the standard library's dates
# and times (DateTime and Date scalars), and the Strawberry object types met so far (dataclasses
# without `__await__`; see `is_awaitable`). A value of a class in PROMISES always is.
PLAIN: set[type] = {type(None), bool, int, float, str, list, tuple, dict, dt.datetime, dt.date}


def is_awaitable(ex: CompiledExecutor, value: Any) -> bool:
    """The executor's predicate, remembering the Strawberry object types it says no to."""
    if ex.is_awaitable(value):
        return True
    cls = value.__class__
    if hasattr(cls, "__strawberry_definition__") and not hasattr(cls, "__await__"):
        PLAIN.add(cls)
    return False


def execute_fields(ex: CompiledExecutor, plan: ObjectPlan, source: Any, path: Path | None) -> Any:
    """Executor.execute_fields: fields of one object, awaitables gathered together."""
    results: dict[str, Any] = {}
    is_awaitable = ex.is_awaitable
    awaitable_fields: list[str] = []
    pending: list[Promise] = []
    try:
        for field in plan.fields:
            result = field.run(ex, field, source, path)
            results[field.key] = result
            cls = result.__class__
            if cls not in PLAIN and (cls in PROMISES or is_awaitable(result)):
                awaitable_fields.append(field.key)
                pending.append(result if isinstance(result, Promise) else as_promise(result))
    except Exception:
        if awaitable_fields:
            ex.settle_in_background([results[key] for key in awaitable_fields])
        raise
    if not awaitable_fields:
        return results
    return Gather(results, awaitable_fields, pending)


def execute_fields_serially(
    ex: CompiledExecutor, plan: ObjectPlan, source: Any, path: Path | None
) -> Any:
    """Executor.execute_fields_serially: a mutation's root fields, one after the other."""

    def reducer(results: dict[str, Any], field: FieldPlan) -> Any:
        result = field.run(ex, field, source, path)
        if ex.is_awaitable(result):

            async def set_result() -> dict[str, Any]:
                results[field.key] = await result
                return results

            return set_result()
        results[field.key] = result
        return results

    return async_reduce(reducer, plan.fields, {})


def run_typename(ex: CompiledExecutor, field: FieldPlan, source: Any, path: Path | None) -> Any:
    return field.parent_name


def run_leaf_attribute(
    ex: CompiledExecutor, field: FieldPlan, source: Any, parent: Path | None
) -> Any:
    """An attribute field of a leaf type: no path, no info unless something fails."""
    try:
        result = getattr(source, field.attribute)  # type: ignore[arg-type]
        cls = result.__class__
        if cls is field.leaf_class and (
            (cls is not float or result - result == 0.0)
            and (cls is not int or MIN_INT <= result <= MAX_INT)
        ):
            # What coercing gives: a str for a String or ID, a bool for a Boolean, a finite float
            # for a Float (inf - inf and nan - nan are nan), a 32-bit int for an Int.
            return result
        if result.__class__ not in PLAIN and ex.is_awaitable(result):
            path = Path(parent, field.key, field.parent_name)
            return complete_awaitable(ex, field, path, result)
        return field.complete(ex, None, result)
    except Exception as raw_error:
        path = Path(parent, field.key, field.parent_name)
        ex.handle_field_error(raw_error, field.return_type, field.details, path)
        return None


def complete_value(ex: CompiledExecutor, field: FieldPlan, path: Path, value: Any) -> Any:
    """The field's value completed, or a promise of it whose errors are the field's."""
    completed = field.complete(ex, path, value)
    cls = completed.__class__
    if cls not in PLAIN and (cls in PROMISES or ex.is_awaitable(completed)):
        return field_promise(ex, completed, field.return_type, field.details, path)
    return completed


def run_attribute(ex: CompiledExecutor, field: FieldPlan, source: Any, parent: Path | None) -> Any:
    path = Path(parent, field.key, field.parent_name)
    try:
        result = getattr(source, field.attribute)  # type: ignore[arg-type]
        if result.__class__ not in PLAIN and ex.is_awaitable(result):
            return complete_awaitable(ex, field, path, result)
        return complete_value(ex, field, path, result)
    except Exception as raw_error:
        ex.handle_field_error(raw_error, field.return_type, field.details, path)
        return None


def run_resolver(ex: CompiledExecutor, field: FieldPlan, source: Any, parent: Path | None) -> Any:
    """Executor.execute_field: the resolver called with a real info and coerced arguments."""
    path = Path(parent, field.key, field.parent_name)
    info = ex.build_resolve_info(field.definition, field.nodes, field.parent, path)
    trace = current_trace() if field.timed else None
    try:
        args = field.args if field.args is not None else ex.arguments(field)
        if trace is None:
            result = field.resolve(source, info, **args)  # type: ignore[misc]
        else:
            start = time.perf_counter_ns()
            result = field.resolve(source, info, **args)  # type: ignore[misc]
            if not isawaitable(result):
                record(trace, info, start)  # as schema/timing.py's wrapper records
        if ex.is_awaitable(result):
            timing = None if trace is None else (trace, info, start)
            return complete_awaitable(ex, field, path, result, timing)
        return complete_value(ex, field, path, result)
    except Exception as raw_error:
        ex.handle_field_error(raw_error, field.return_type, field.details, path)
        return None


def run_loaded(ex: CompiledExecutor, field: FieldPlan, source: Any, parent: Path | None) -> Any:
    """A `ByLoader` field (schema/loaded.py): its resolver's work, done in place.

    The loader is asked exactly as the resolver asks it; a value it already holds (a done future)
    completes here, without the resolver's coroutine, an Info or a task; a pending one is awaited
    as the resolver would await it. Timed as the resolver is.
    """
    spec = field.loaded
    assert spec is not None
    path = Path(parent, field.key, field.parent_name)
    trace = current_trace() if field.timed else None
    start = time.perf_counter_ns() if trace is not None else 0
    try:
        future = spec.loader(ex.context_value.loaders).load_shared(spec.key(source))
        if not future.done():
            timing = None if trace is None else (trace, Timed(field, path), start)
            return Step(
                ex.shared_promise(future), False, ex, field.complete, field.return_type,
                field.details, path, timing, spec,
            )  # fmt: skip
        try:
            value = ex.built(spec, future.result())
        finally:
            if trace is not None:
                record(trace, Timed(field, path), start)
        return complete_value(ex, field, path, value)
    except Exception as raw_error:
        ex.handle_field_error(raw_error, field.return_type, field.details, path)
        return None


class Timed:
    """What a resolver timing reads of a resolve info (schema/timing.py, `record`)."""

    __slots__ = ("field_name", "parent_type", "path", "return_type")

    def __init__(self, field: FieldPlan, path: Path) -> None:
        self.path = path
        self.parent_type = field.parent
        self.field_name = field.nodes[0].name.value  # graphql-core's `info.field_name`
        self.return_type = field.return_type


async def complete_awaitable(
    ex: CompiledExecutor,
    field: FieldPlan,
    path: Path,
    result: Any,
    timing: tuple[RequestTrace, Any, int] | None = None,
) -> Any:
    """Executor.complete_awaitable_value; `timing` records the resolver's time once it resolved.

    A coroutine, made a task by the object's `Gather` as `gather_with_cancel` makes it one: a
    resolver's error is the field's inside that task, in the order graphql-core handles it.
    """
    try:
        try:
            resolved = await result
        finally:
            if timing is not None:
                record(*timing)
        if field.slot is not None:
            pending = pending_loads(ex, field, resolved)
            if pending:
                await settled(pending)
        completed = field.complete(ex, path, resolved)
        if completed.__class__ not in PLAIN and ex.is_awaitable(completed):
            completed = await completed
    except Exception as raw_error:
        ex.handle_field_error(raw_error, field.return_type, field.details, path)
        completed = None
    return completed
