"""Resolver timing: resolvers with code of their own are wrapped once, when the schema is built.

Attribute (default) resolvers are left alone, and no per-field middleware runs, so a
MentionFeed of ~4,150 fields pays for its 1,051 real resolvers only. A wrapped resolver records
into the request's trace when there is one (the tracing extension opens it) and calls straight
through otherwise.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from inspect import isawaitable
from typing import Any, Protocol

import strawberry
from graphql import GraphQLObjectType, GraphQLResolveInfo

from app.monitoring.collector import RequestTrace, current_trace
from schema.apollo import ResolverTiming

Resolver = Callable[..., Any]
TIMED = "_insitechart_timed"


def is_default_resolver(resolve: Resolver | None) -> bool:
    """True for attribute fields: Strawberry marks their resolver `_is_default`."""
    return resolve is None or bool(getattr(resolve, "_is_default", False))


def instrument(schema: strawberry.Schema) -> int:
    """Wrap every non-default resolver of the schema's object types; return how many."""
    wrapped = 0
    # A subscription's root fields run once per event, long after the operation's trace ended.
    subscription = schema._schema.subscription_type
    for graphql_type in schema._schema.type_map.values():
        if not isinstance(graphql_type, GraphQLObjectType) or graphql_type.name.startswith("__"):
            continue
        if graphql_type is subscription:
            continue
        for field in graphql_type.fields.values():
            if is_default_resolver(field.resolve) or getattr(field.resolve, TIMED, False):
                continue
            assert field.resolve is not None
            field.resolve = timed(field.resolve)
            wrapped += 1
    return wrapped


class ResolvedField(Protocol):
    """What a timing reads of the field resolved: a resolve info has it, so does the compiled
    plan's in-place read (schema/compiled/fields.py, `Timed`)."""

    @property
    def path(self) -> Any: ...

    @property
    def parent_type(self) -> Any: ...

    @property
    def field_name(self) -> str: ...

    @property
    def return_type(self) -> Any: ...


def record(trace: RequestTrace, info: ResolvedField, start: int) -> None:
    duration = time.perf_counter_ns() - start
    timing = ResolverTiming(
        info.path, info.parent_type.name, info.field_name, info.return_type, start, duration
    )
    trace.resolvers.append(timing)
    if duration >= trace.slow_resolver_ns:
        trace.slow_resolvers.append(timing)


async def record_when_done(
    result: Awaitable[Any], trace: RequestTrace, info: GraphQLResolveInfo[Any], start: int
) -> Any:
    try:
        return await result
    finally:
        record(trace, info, start)


def timed(resolve: Resolver) -> Resolver:
    def timed_resolve(root: Any, info: GraphQLResolveInfo[Any], *args: Any, **kwargs: Any) -> Any:
        trace = current_trace()
        if trace is None:
            return resolve(root, info, *args, **kwargs)
        start = time.perf_counter_ns()
        result = resolve(root, info, *args, **kwargs)
        if isawaitable(result):
            return record_when_done(result, trace, info, start)
        record(trace, info, start)
        return result

    setattr(timed_resolve, TIMED, True)
    timed_resolve.__wrapped__ = resolve  # type: ignore[attr-defined]  # the compiled plan times it itself
    return timed_resolve
