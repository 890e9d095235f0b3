"""Per-operation tracing: a structured log line, slow-resolver warnings, Apollo tracing on request.

Resolvers record their timings through `schema.timing` (wrapped once at schema build); this
extension opens the per-request trace they record into and reports it.
"""

from __future__ import annotations

import hashlib
import heapq
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from graphql import GraphQLError, GraphQLSyntaxError
from graphql.pyutils import Path
from strawberry.extensions import SchemaExtension

from app.config import Settings
from app.dbfaults import MESSAGES, classify
from app.monitoring import collector, otel
from app.monitoring.collector import RequestTrace
from app.monitoring.monitor import Monitor
from schema.apollo import apollo_tracing, path_of

log = logging.getLogger("insitechart.trace")


def dotted(path: Path) -> str:
    return ".".join(str(key) for key in path_of(path))


def error_code(error: GraphQLError) -> str:
    """The error's `extensions.code`; a document that fails to parse or validate: Apollo's codes."""
    code = (error.extensions or {}).get("code")
    if code is not None:
        return str(code)
    if isinstance(error, GraphQLSyntaxError):
        return "GRAPHQL_PARSE_FAILED"
    if error.original_error is None:
        return "GRAPHQL_VALIDATION_FAILED"
    # This runs before the masking extension has turned a database fault into its code.
    fault = classify(error.original_error)
    return fault if fault in MESSAGES else "INTERNAL_SERVER_ERROR"


class Tracing(SchemaExtension):
    """Times the operation, its phases and its resolvers; logs one line per operation."""

    def __init__(self, *, settings: Settings) -> None:
        super().__init__()
        self.settings = settings
        self.slow_resolver_ns = int(settings.trace_slow_resolver_ms * 1_000_000)
        self.trace = RequestTrace()
        self.start_time = datetime.now(UTC)
        self.end_time = self.start_time
        self.end_ns: int | None = None
        self.phases: dict[str, tuple[int, int]] = {}
        self.failure: Exception | None = None

    def on_operation(self) -> Iterator[None]:
        monitor = self._monitor()
        tracer = monitor.tracer if monitor is not None else None
        self.trace, token = collector.begin(tracer, self.slow_resolver_ns)
        self.start_time = datetime.now(UTC)
        try:
            with otel.span(tracer, "graphql.operation") as span:
                try:
                    yield
                except Exception as exc:
                    self.failure = exc  # a document that does not parse ends here
                    raise
                finally:
                    if span is not None:
                        span.update_name(f"graphql {self.operation_name}")
                        span.set_attribute("graphql.operation.name", self.operation_name)
                        span.set_attribute("graphql.document.hash", self.document_hash())
        finally:
            self.end_ns = time.perf_counter_ns()
            self.end_time = datetime.now(UTC)
            collector.end(token)
            self._finish()

    def on_parse(self) -> Iterator[None]:
        yield from self._phase("parsing")

    def on_validate(self) -> Iterator[None]:
        yield from self._phase("validation")

    def on_execute(self) -> Iterator[None]:
        yield from self._phase("execution")

    def _phase(self, name: str) -> Iterator[None]:
        start = time.perf_counter_ns()
        try:
            yield
        finally:
            self.phases[name] = (start, time.perf_counter_ns() - start)

    @property
    def operation_name(self) -> str:
        try:
            name = self.execution_context.operation_name
        except Exception:  # an unparsable document has no operation
            name = None
        return name or "anonymous"

    @property
    def duration_ns(self) -> int:
        end = self.end_ns if self.end_ns is not None else time.perf_counter_ns()
        return end - self.trace.start_ns

    def document_hash(self) -> str:
        query = self.execution_context.query or ""
        return hashlib.sha256(query.encode()).hexdigest()[:16]

    def summary(self) -> dict[str, Any]:
        """The fields of the operation's log line."""
        trace = self.trace
        slowest = heapq.nlargest(
            self.settings.trace_slowest_resolvers, self.trace.resolvers, key=lambda r: r.duration_ns
        )
        return {
            "operation": self.operation_name,
            "document_hash": self.document_hash(),
            "duration_ms": round(self.duration_ns / 1e6, 3),
            "parse_ms": self._phase_ms("parsing"),
            "validate_ms": self._phase_ms("validation"),
            "execute_ms": self._phase_ms("execution"),
            "resolvers": len(self.trace.resolvers),
            "slowest_resolvers": [
                {"path": dotted(r.path), "ms": round(r.duration_ns / 1e6, 3)} for r in slowest
            ],
            "sql_statements": trace.sql_count,
            "sql_ms": round(trace.sql_ns / 1e6, 3),
            "loader_batches": [
                {"loader": b.loader, "keys": b.keys, "ms": round(b.duration_ns / 1e6, 3)}
                for b in trace.batches
            ],
            "cache_hits": dict(trace.cache_hits),
            "cache_misses": dict(trace.cache_misses),
            "cost": self._cost(),
            "errors": self.error_codes(),
        }

    def error_codes(self) -> list[str]:
        result = self.execution_context.result
        if result is not None:
            return [error_code(error) for error in result.errors or ()]
        if isinstance(self.failure, GraphQLError):
            return [error_code(self.failure)]
        return [] if self.failure is None else ["INTERNAL_SERVER_ERROR"]

    def _monitor(self) -> Monitor | None:
        resources = getattr(self.execution_context.context, "resources", None)
        return getattr(resources, "monitor", None)

    def _cost(self) -> float | None:
        """The operation's cost, when the context carries one (the cost limiter sets it)."""
        cost = getattr(self.execution_context.context, "cost", None)
        return float(cost) if isinstance(cost, int | float) else None

    def _phase_ms(self, name: str) -> float | None:
        phase = self.phases.get(name)
        return round(phase[1] / 1e6, 3) if phase is not None else None

    def _finish(self) -> None:
        monitor = self._monitor()
        if monitor is not None:
            monitor.record_operation(
                self.operation_name,
                self.duration_ns / 1e9,
                self.error_codes(),
                self._cost(),
                self.trace.batches,
            )
        self._warn_slow_resolvers()
        if not self.settings.trace_log or not log.isEnabledFor(logging.INFO):
            return
        data = self.summary()
        log.info(
            "%s %.1f ms, %d resolvers, %d SQL",
            data["operation"],
            data["duration_ms"],
            data["resolvers"],
            data["sql_statements"],
            extra={"data": data},
        )

    def _warn_slow_resolvers(self) -> None:
        """A warning line per slow resolver, slowest first, at most TRACE_SLOW_RESOLVER_LINES.

        Resolvers waiting on one slow batch are all slow together (a cold MentionFeed can have
        hundreds); the rest are counted in one more line, so one bad operation is not a log flood.
        """
        slow = sorted(self.trace.slow_resolvers, key=lambda t: t.duration_ns, reverse=True)
        shown, rest = (
            slow[: self.settings.trace_slow_resolver_lines],
            slow[self.settings.trace_slow_resolver_lines :],
        )
        if rest:
            log.warning(
                "%d more slow resolvers in %s (the slowest %d are listed)",
                len(rest),
                self.operation_name,
                len(shown),
                extra={
                    "data": {"operation": self.operation_name, "more_slow_resolvers": len(rest)}
                },
            )
        for timing in shown:
            path = dotted(timing.path)
            log.warning(
                "slow resolver %s: %.1f ms",
                path,
                timing.duration_ns / 1e6,
                extra={
                    "data": {
                        "operation": self.operation_name,
                        "path": path,
                        "duration_ms": round(timing.duration_ns / 1e6, 3),
                    }
                },
            )

    def tracing_allowed(self) -> bool:
        context = self.execution_context.context
        request = getattr(context, "request", None)
        if request is None or request.headers.get("x-trace") != "1":
            return False
        if not self.settings.is_production:
            return True
        principal = getattr(context, "principal", None)
        return principal is not None and "admin" in principal.scopes

    def get_results(self) -> dict[str, Any]:
        if not self.tracing_allowed():
            return {}
        return {
            "tracing": apollo_tracing(
                self.start_time,
                self.end_time,
                self.duration_ns,
                self.phases,
                self.trace.resolvers,
                self.trace,
            )
        }
