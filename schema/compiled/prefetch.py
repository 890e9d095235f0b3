"""Prefetch: ask a value's loads before completing it, so that it completes in one pass.

When a field's value arrives (a page of mentions, a page of stocks), completing it at once asks
the loaders of the level below (each mention's stock's sentiment), and everything above those
loads waits in promises: a gather per mention, a reused position per repeated stock, a gather per
list. Walking the value first along the plan, asking only the loaded fields (`ByLoader`) and
reading only the attributes that lead to them, puts the same keys in the same batches; once they
are in, completing the value finds every future done and builds the result directly.

The walk changes when loads are asked, never what a field resolves to (nor how often: it walks
only loaders that share one future per key, `Loader.shares_loads`): the completion that
follows is the usual one, errors, paths and null propagation included. It asks nothing that
the completion would not ask (the same plan, the same keys); whatever fails on the way (a key
function, an attribute, a build) ends the walk there, and the completion meets it as before.
Queries only: a mutation's fields run in order, each after the last one's writes.
"""

from __future__ import annotations

import asyncio
from asyncio import Future
from functools import partial
from typing import TYPE_CHECKING, Any

from schema.compiled.plan import DEFINITION_BACKREF, FieldPlan, ObjectPlan

if TYPE_CHECKING:
    from schema.compiled.executor import CompiledExecutor

# Objects walked per value at most: a bound on the work a walk can add to a completion.
MAX_OBJECTS = 5_000


# A plan some field of which may wait on its own (an async resolver): held back by a walk's wait.
HOLDS: list[FieldPlan] = []


def walked(plan: ObjectPlan) -> list[FieldPlan]:
    """The fields of `plan` a walk follows (loaded ones, and attributes of an object type), or
    HOLDS when waiting for the walk's loads would hold back a field's own (an async resolver:
    StockDetail's history and mentions run beside its sentiment, not after it)."""
    fields = plan.walked
    if fields is None:
        if any(may_wait(f) for f in plan.fields):
            fields = HOLDS
        else:
            fields = [f for f in plan.fields if f.loaded is not None or (f.attribute and f.slot)]
        plan.walked = fields
    return fields


def may_wait(field: FieldPlan) -> bool:
    """A field run by its resolver, when that resolver is async (or unknown to Strawberry)."""
    if field.loaded is not None or field.attribute is not None:
        return False
    if field.nodes[0].name.value == "__typename":
        return False
    strawberry_field = (field.definition.extensions or {}).get(DEFINITION_BACKREF)
    resolver = getattr(strawberry_field, "base_resolver", None)
    return resolver is None or bool(resolver.is_async)


def pending_loads(ex: CompiledExecutor, field: FieldPlan, value: Any) -> list[Future[Any]]:
    """The loads below `value` (the resolved value of `field`) not done yet, asked now."""
    if field.slot is None or ex.completed is None:
        return []
    pending: list[Future[Any]] = []
    seen: set[tuple[int, int]] = set()
    stack: list[tuple[FieldPlan, Any]] = [(field, value)]
    try:
        while stack:
            at, value = stack.pop()
            slot = at.slot
            if slot is None or slot.type.is_type_of is not None:
                continue  # an object type that checks its values: the completion asks
            items = value if value.__class__ is list or value.__class__ is tuple else (value,)
            for item in items:
                if item.__class__ is list or item.__class__ is tuple:
                    stack.append((at, item))  # a list of lists
                    continue
                if item is None or isinstance(item, Exception):
                    continue
                plan = slot.plan or ex.compile_slot(slot)
                fields = walked(plan)
                if fields is HOLDS:
                    return []
                if not fields or (id(plan), id(item)) in seen:
                    continue
                seen.add((id(plan), id(item)))
                if len(seen) > MAX_OBJECTS:
                    return pending
                for below in fields:
                    spec = below.loaded
                    if spec is None:
                        stack.append((below, getattr(item, below.attribute)))  # type: ignore[arg-type]
                        continue
                    loader = spec.loader(ex.context_value.loaders)
                    if loader.shares_loads is not True:
                        return []  # asked again by the completion, it would load again
                    future = loader.load_shared(spec.key(item))
                    if not future.done():
                        pending.append(future)
                    elif (
                        below.slot is not None
                        and not future.cancelled()
                        and (future.exception() is None)
                    ):
                        stack.append((below, ex.built(spec, future.result())))
    except Exception:  # the completion meets it where graphql-core would
        return pending
    return pending


async def settled(futures: list[Future[Any]]) -> None:
    """Once every future is done, however it ended (the completion reads each outcome).

    One wake-up per batch, not per future: the futures a batch answers are all done by the
    time the first of them calls back (the loader sets them in one pass), so after each wake-up
    the ones done are skipped. Cancelling the waiter leaves the futures alone: the loaders
    share them.
    """
    loop = asyncio.get_running_loop()
    for future in futures:
        if future.done():
            continue
        waiter = loop.create_future()
        wake = partial(woken, waiter)
        future.add_done_callback(wake)
        try:
            await waiter
        finally:
            future.remove_done_callback(wake)


def woken(waiter: Future[None], _: Future[Any]) -> None:
    if not waiter.done():
        waiter.set_result(None)
