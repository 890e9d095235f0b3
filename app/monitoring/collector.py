"""The per-request trace collector: SQL, loader batches and cache lookups of one operation.

The collector lives in a context variable set by the tracing extension; loader batch tasks and
SQLAlchemy's greenlets inherit the context, so whatever runs on behalf of a request records into
its collector without being handed it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from typing import Any

from app.monitoring import otel


@dataclass(slots=True)
class LoaderBatch:
    loader: str
    keys: int
    start_ns: int  # time.perf_counter_ns() when the batch started
    duration_ns: int


@dataclass(slots=True)
class RequestTrace:
    """What one operation did besides running resolvers."""

    start_ns: int = field(default_factory=time.perf_counter_ns)
    sql_count: int = 0
    sql_ns: int = 0
    batches: list[LoaderBatch] = field(default_factory=list)
    resolvers: list[Any] = field(default_factory=list)  # schema.apollo.ResolverTiming
    slow_resolver_ns: int = 2**62  # timings at or over this also go to `slow_resolvers`
    slow_resolvers: list[Any] = field(default_factory=list)
    cache_hits: dict[str, int] = field(default_factory=dict)
    cache_misses: dict[str, int] = field(default_factory=dict)
    tracer: otel.Tracer | None = None  # OpenTelemetry spans for this request's batches and SQL

    def record_sql(self, duration_ns: int) -> None:
        self.sql_count += 1
        self.sql_ns += duration_ns

    def record_cache(self, kind: str, hit: bool, count: int = 1) -> None:
        counts = self.cache_hits if hit else self.cache_misses
        counts[kind] = counts.get(kind, 0) + count


_current: ContextVar[RequestTrace | None] = ContextVar("insitechart_trace", default=None)
current_trace = _current.get  # bound once: resolvers call it on every timed field


def current() -> RequestTrace | None:
    return _current.get()


def begin(
    tracer: Any | None = None, slow_resolver_ns: int = 2**62
) -> tuple[RequestTrace, Token[RequestTrace | None]]:
    trace = RequestTrace(tracer=tracer, slow_resolver_ns=slow_resolver_ns)
    return trace, _current.set(trace)


def end(token: Token[RequestTrace | None]) -> None:
    try:
        _current.reset(token)
    except ValueError:  # ended from another context (a subscription's stream): nothing to undo
        pass


@contextmanager
def loader_batch(loader: str, keys: int) -> Iterator[None]:
    """Record one DataLoader batch into the current request's trace, if there is one."""
    trace = _current.get()
    if trace is None:
        yield
        return
    start = time.perf_counter_ns()
    try:
        with otel.span(trace.tracer, f"loader {loader}", loader=loader, keys=keys):
            yield
    finally:
        trace.batches.append(LoaderBatch(loader, keys, start, time.perf_counter_ns() - start))
