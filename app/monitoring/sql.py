"""SQL instrumentation: engine events feed the request trace, the slow-SQL log and the stats."""

from __future__ import annotations

import logging
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import event
from sqlalchemy.engine import Engine, ExceptionContext

from app.monitoring import collector

if TYPE_CHECKING:
    from app.db import Database
    from app.monitoring.plans import PlanCapture

log = logging.getLogger("insitechart.sql")

_STRING = re.compile(r"'(?:[^']|'')*'")
_NUMBER = re.compile(r"(?<![\w$])-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?\b")
_PARAM = re.compile(r"\$\d+|%\([^)]*\)s|%s|(?<!:):[A-Za-z_]\w*|\?")
_LIST = re.compile(r"\(\s*\?(?:\s*,\s*\?)+\s*\)")
_SPACE = re.compile(r"\s+")

STARTS = "insitechart_sql_starts"  # per connection: (start, span) of statements under way
# A slow-SQL line shows at most this much of the fingerprint: a warming batch is ~1,000 chars.
SLOW_SQL_MAX_CHARS = 200

_background: ContextVar[str | None] = ContextVar("insitechart_sql_background", default=None)


@contextmanager
def background(work: str) -> Iterator[None]:
    """Statements run inside are background work (cache warming): slow ones log at debug level.

    Nobody waits for them, and a cold start makes every one of them slow; they still count in
    the stats and the histogram.
    """
    token = _background.set(work)
    try:
        yield
    finally:
        _background.reset(token)


def shorten(text: str, limit: int = SLOW_SQL_MAX_CHARS) -> str:
    """The text cut to `limit` characters, saying how long it was."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text)} chars)"


SqlObserver = Callable[[float], None]
# Called with every statement's duration in seconds (the Prometheus histogram).


@lru_cache(maxsize=2048)
def fingerprint(statement: str) -> str:
    """The statement with literals and parameters replaced by `?` and IN lists collapsed."""
    text = _STRING.sub("?", statement)
    text = _NUMBER.sub("?", text)
    text = _PARAM.sub("?", text)
    text = _LIST.sub("(?+)", text)
    return _SPACE.sub(" ", text).strip()


@dataclass(slots=True)
class FingerprintStats:
    fingerprint: str
    count: int = 0
    total_s: float = 0.0
    max_s: float = 0.0

    @property
    def mean_s(self) -> float:
        return self.total_s / self.count if self.count else 0.0


class SqlStats:
    """Count, mean and max per fingerprint; at most `capacity` of them, least recent evicted."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._stats: OrderedDict[str, FingerprintStats] = OrderedDict()

    def __len__(self) -> int:
        return len(self._stats)

    def record(self, print_: str, duration_s: float) -> None:
        stats = self._stats.get(print_)
        if stats is None:
            stats = self._stats[print_] = FingerprintStats(print_)
            if len(self._stats) > self.capacity:
                self._stats.popitem(last=False)
        else:
            self._stats.move_to_end(print_)
        stats.count += 1
        stats.total_s += duration_s
        stats.max_s = max(stats.max_s, duration_s)

    def slowest(self, limit: int) -> list[FingerprintStats]:
        return sorted(self._stats.values(), key=lambda s: s.max_s, reverse=True)[:limit]

    def busiest(self, limit: int) -> list[FingerprintStats]:
        """The shapes that took the most time in all: what to optimise first."""
        return sorted(self._stats.values(), key=lambda s: s.total_s, reverse=True)[:limit]


class SqlMonitor:
    """Listens to one engine's cursor executions."""

    def __init__(self, slow_ms: float, capacity: int, observe: SqlObserver | None = None) -> None:
        self.slow_s = slow_ms / 1000
        self.stats = SqlStats(capacity)
        self.observe = observe
        self.plans: PlanCapture | None = None  # set by the monitor: explains slow statements

    def attach(self, engine: Engine) -> None:
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)
        event.listen(engine, "handle_error", self._error)

    def detach(self, engine: Engine) -> None:
        event.remove(engine, "before_cursor_execute", self._before)
        event.remove(engine, "after_cursor_execute", self._after)
        event.remove(engine, "handle_error", self._error)

    def _before(self, conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        conn.info.setdefault(STARTS, []).append(self._started(conn.dialect.name, statement))

    # The lean read path (app/db.py, Database.fetch) reports its statements here directly.

    def read_started(
        self, db: Database, _connection: Any, statement: str, _parameters: Sequence[Any]
    ) -> tuple[int, Any]:
        return self._started(db.dialect, statement)

    def _started(self, dialect: str, statement: str) -> tuple[int, Any]:
        trace = collector.current()
        span = None
        if trace is not None and trace.tracer is not None:
            span = trace.tracer.start_span(
                "sql", attributes={"db.system": dialect, "db.statement": fingerprint(statement)}
            )
        return time.perf_counter_ns(), span

    def read_ended(self, started: tuple[int, Any], statement: str, parameters: Any) -> None:
        start, span = started
        if span is not None:
            span.end()
        self.record(statement, time.perf_counter_ns() - start, parameters)

    def read_failed(self, started: tuple[int, Any]) -> None:
        if started[1] is not None:
            started[1].end()

    def _after(
        self, conn: Any, _cursor: Any, statement: str, parameters: Any, _ctx: Any, many: bool
    ) -> None:
        starts = conn.info.get(STARTS)
        if not starts:
            return
        start, span = starts.pop()
        if span is not None:
            span.end()
        self.record(statement, time.perf_counter_ns() - start, None if many else parameters)

    def _error(self, context: ExceptionContext) -> None:
        """A failed statement gets no after-event: drop its start (and end its span)."""
        starts = context.connection.info.get(STARTS) if context.connection is not None else None
        if starts:
            _, span = starts.pop()
            if span is not None:
                span.end()

    def record(self, statement: str, duration_ns: int, parameters: Any = None) -> None:
        duration_s = duration_ns / 1e9
        trace = collector.current()
        if trace is not None:
            trace.record_sql(duration_ns)
        if self.observe is not None:
            self.observe(duration_s)
        print_ = fingerprint(statement)
        self.stats.record(print_, duration_s)
        if duration_s < self.slow_s:
            return
        work = _background.get()
        if self.plans is not None and work is None:
            self.plans.offer(print_, statement, parameters)
        shown = shorten(print_)
        data = {"fingerprint": shown, "duration_ms": round(duration_s * 1000, 3)}
        if work is None:
            log.warning("slow SQL %.1f ms: %s", duration_s * 1000, shown, extra={"data": data})
            return
        data["background"] = work
        log.debug("slow SQL (%s) %.1f ms: %s", work, duration_s * 1000, shown, extra={"data": data})
