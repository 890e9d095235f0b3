"""Completing objects: a known object type, or the runtime type of an interface or union.

Mirrors graphql-core's `complete_object_value` and `complete_abstract_value`: `is_type_of` and
`resolve_type` get a real resolve info (built only for them), an awaitable verdict is awaited
where graphql-core awaits it, and the runtime type is checked by graphql-core's own method.

In a query, an object that a selection reaches again (a feed's 500 mentions point to 50 stocks,
`ex.built` makes each one `Stock`) is completed once: the second position takes the first's
completed value, the same dict, when the request has no error (see `reuse`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from graphql import GraphQLAbstractType, GraphQLObjectType, GraphQLResolveInfo
from graphql.execution.executor import invalid_return_type_error
from graphql.pyutils import Path, Undefined

from schema.built import COMPLETED
from schema.compiled import fields
from schema.compiled.plan import Complete, FieldPlan, ObjectPlan, ObjectSlot
from schema.compiled.promise import DONE, FAILED, PENDING, PROMISES, Owned, Promise

if TYPE_CHECKING:
    from schema.compiled.executor import CompiledExecutor

Info = GraphQLResolveInfo[Any]
NOTHING: dict[str, Any] = {}
PLANS_KEPT = 4  # pure plans whose values a shared object keeps (documents selecting it differently)


def field_path(path: Path) -> Path:
    """The path of the field a (list item) path is in: what graphql-core's info holds."""
    while isinstance(path.key, int) and path.prev is not None:
        path = path.prev
    return path


def info_for(ex: CompiledExecutor, field: FieldPlan, path: Path) -> Info:
    return ex.build_resolve_info(field.definition, field.nodes, field.parent, field_path(path))


def object_of(field: FieldPlan, slot: ObjectSlot) -> Complete:
    def complete(ex: CompiledExecutor, path: Path, result: Any) -> Any:
        if result is None or result is Undefined:
            return None
        if isinstance(result, Exception):
            raise result
        return complete_object(ex, field, slot, path, result, None)

    return complete


def complete_object(
    ex: CompiledExecutor,
    field: FieldPlan,
    slot: ObjectSlot,
    path: Path,
    result: Any,
    info: Info | None,
) -> Any:
    """Executor.complete_object_value."""
    is_type_of = slot.type.is_type_of
    if is_type_of is not None:
        verdict = is_type_of(result, info or info_for(ex, field, path))
        if ex.is_awaitable(verdict):
            return complete_checked_later(ex, field, slot, path, result, verdict)
        if not verdict:
            raise invalid_return_type_error(slot.type, result, field.details)
    plan = slot.plan or ex.compile_slot(slot)
    if plan.pure:
        kept = getattr(result, "__dict__", NOTHING).get(COMPLETED)
        if kept is not None:
            return complete_shared(ex, plan, result, path, kept)
    memo = ex.completed
    if memo is None:
        return fields.execute_fields(ex, plan, result, path)
    key = (id(plan), id(result))
    held = memo.get(key)
    if held is not None and held[0] is result:
        return reuse(ex, plan, result, path, held[1])
    completed = fields.execute_fields(ex, plan, result, path)
    memo[key] = (result, completed)
    return completed


def complete_shared(
    ex: CompiledExecutor, plan: ObjectPlan, source: Any, path: Path, kept: dict[int, Any]
) -> Any:
    """A pure plan's completion of a shared object (schema/built.py), kept on the object for the
    requests after this one: leaves read from attributes depend on the object alone, and nothing
    changes a shared object. Only a completion without errors is kept, so an error is raised
    again, at its own path, by each completion. An object keeps a few plans' values at most."""
    held = kept.get(id(plan))
    if held is not None and held[0] is plan:
        return held[1]
    errors = len(ex.collected_errors.errors)
    completed = fields.execute_fields(ex, plan, source, path)
    if completed.__class__ is dict and len(ex.collected_errors.errors) == errors:
        if len(kept) >= PLANS_KEPT:
            kept.clear()
        kept[id(plan)] = (plan, completed)
    return completed


def reuse(ex: CompiledExecutor, plan: ObjectPlan, source: Any, path: Path, first: Any) -> Any:
    """The object completed again at `path`, as `first` was completed for the same plan.

    The values of a selection depend only on the object and the plan (the loaders answer a key
    the same way all request long), so the first completion is the answer here too, unless an
    error was raised anywhere: an error's path is its position's, and a reuse would drop it.
    Then, and whenever the first fails or is cancelled, the object is completed anew, as
    graphql-core completes it. Resolvers below a reused position are not run again (nor timed).
    """
    if isinstance(first, Promise):
        if first.state != DONE:
            return Reused(first, ex, plan, source, path)
        first = first.value
    if not ex.collected_errors.errors:
        return first
    return fields.execute_fields(ex, plan, source, path)


class Reused(Owned):
    """A position waiting for the first completion of the same object and plan (`reuse`); it
    does not own that completion: cancelling this position leaves the first running. Like a
    gather, it takes the errors of the field whose value it is (`Owned.own`)."""

    __slots__ = ("ex", "object", "path", "plan")

    def __init__(
        self, first: Promise, ex: CompiledExecutor, plan: ObjectPlan, source: Any, path: Path
    ) -> None:
        super().__init__()
        self.owner = None
        self.ex: CompiledExecutor | None = ex
        self.plan, self.object, self.path = plan, source, path
        first.then(self.first_settled)

    def first_settled(self, first: Promise) -> None:
        ex = self.ex
        if self.state != PENDING or ex is None:
            return
        if first.state == DONE and not ex.collected_errors.errors:
            self.resolve(first.value)
            return
        try:
            value = fields.execute_fields(ex, self.plan, self.object, self.path)
        except Exception as error:  # a non-null field's, for the field holding this object
            self.failed_with(error)
            return
        if isinstance(value, Promise):
            self.source = value  # owned: cancelled with this position
            value.then(self.completed)
        else:
            self.resolve(value)

    def completed(self, inner: Promise) -> None:
        if inner.state == DONE:
            self.resolve(inner.value)
        elif inner.state == FAILED:
            self.failed_with(inner.value)
        else:
            self.cancel()

    def settled(self) -> None:
        self.ex = self.plan = self.object = self.path = None  # type: ignore[assignment]
        super().settled()


PROMISES.add(Reused)


async def complete_checked_later(
    ex: CompiledExecutor, field: FieldPlan, slot: ObjectSlot, path: Path, result: Any, verdict: Any
) -> Any:
    if not await verdict:
        raise invalid_return_type_error(slot.type, result, field.details)
    plan = slot.plan or ex.compile_slot(slot)
    completed = fields.execute_fields(ex, plan, result, path)
    if ex.is_awaitable(completed):
        return await completed
    return completed


def abstract_of(field: FieldPlan, return_type: GraphQLAbstractType) -> Complete:
    slots: dict[str, ObjectSlot] = {}

    def slot_for(object_type: GraphQLObjectType) -> ObjectSlot:
        slot = slots.get(object_type.name)
        if slot is None or slot.type is not object_type:
            slot = slots[object_type.name] = ObjectSlot(object_type, field.details)
        return slot

    def complete(ex: CompiledExecutor, path: Path, result: Any) -> Any:
        if result is None or result is Undefined:
            return None
        if isinstance(result, Exception):
            raise result
        info = info_for(ex, field, path)
        resolve_type = return_type.resolve_type or ex.type_resolver
        runtime = resolve_type(result, info, return_type)
        if ex.is_awaitable(runtime):
            return complete_resolved_later(
                ex, field, return_type, slot_for, path, result, info, runtime
            )
        details = field.details
        object_type = ex.ensure_valid_runtime_type(runtime, return_type, details, info, result)
        return complete_object(ex, field, slot_for(object_type), path, result, info)

    return complete


async def complete_resolved_later(  # the arguments of complete_abstract_value
    ex: CompiledExecutor,
    field: FieldPlan,
    return_type: GraphQLAbstractType,
    slot_for: Any,
    path: Path,
    result: Any,
    info: Info,
    runtime: Any,
) -> Any:
    object_type = ex.ensure_valid_runtime_type(
        await runtime, return_type, field.details, info, result
    )
    value = complete_object(ex, field, slot_for(object_type), path, result, info)
    if ex.is_awaitable(value):
        return await value
    return value
