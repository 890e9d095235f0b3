"""`serverStats`: the admin view of this worker's latency, errors, caches, SQL and resources."""

from __future__ import annotations

import strawberry

from app.monitoring.monitor import Monitor
from app.monitoring.plans import PlanCapture
from app.monitoring.sql import FingerprintStats
from app.monitoring.stats import CacheRatio, OperationStats
from app.monitoring.system import SystemSnapshot
from schema.auth import require_scope
from schema.context import Context
from schema.errors import NotFound

SLOWEST = 10


@strawberry.type(description="Latency of one operation name over the window.")
class OperationLatency:
    operation: str
    count: int
    mean_ms: float
    max_ms: float

    @classmethod
    def from_stats(cls, stats: OperationStats) -> OperationLatency:
        return cls(
            operation=stats.operation,
            count=stats.count,
            mean_ms=stats.mean_s * 1000,
            max_ms=stats.max_s * 1000,
        )


@strawberry.type(
    description="One SQL statement shape (literals stripped) since the worker started."
)
class SqlFingerprint:
    fingerprint: str
    count: int
    mean_ms: float
    max_ms: float
    total_ms: float
    plan: str | None = strawberry.field(
        description="Its query plan (EXPLAIN), captured once when it was first slow; "
        "null until then, and on SQLite."
    )
    hints: list[str] = strawberry.field(
        description="What the plan suggests, e.g. a sequential scan of a large table."
    )

    @classmethod
    def from_stats(cls, stats: FingerprintStats, plans: PlanCapture | None) -> SqlFingerprint:
        plan = plans.get(stats.fingerprint) if plans is not None else None
        return cls(
            fingerprint=stats.fingerprint,
            count=stats.count,
            mean_ms=stats.mean_s * 1000,
            max_ms=stats.max_s * 1000,
            total_ms=stats.total_s * 1000,
            plan=plan.text if plan is not None else None,
            hints=list(plan.hints) if plan is not None else [],
        )


@strawberry.type(description="Cache look-ups of one cache type over the window.")
class CacheUse:
    type: str
    hits: int
    misses: int
    hit_ratio: float

    @classmethod
    def from_ratio(cls, ratio: CacheRatio) -> CacheUse:
        return cls(type=ratio.type, hits=ratio.hits, misses=ratio.misses, hit_ratio=ratio.hit_ratio)


@strawberry.type(description="Resources of this worker process and of its machine, sampled now.")
class SystemResources:
    cpu_percent: float = strawberry.field(description="This process, percent of one core.")
    rss_bytes: float
    open_fds: int
    threads: int
    system_cpu_percent: float
    system_memory_percent: float
    event_loop_lag_ms: float

    @classmethod
    def from_snapshot(cls, snapshot: SystemSnapshot) -> SystemResources:
        return cls(
            cpu_percent=snapshot.cpu_percent,
            rss_bytes=float(snapshot.rss_bytes),
            open_fds=snapshot.open_fds,
            threads=snapshot.threads,
            system_cpu_percent=snapshot.system_cpu_percent,
            system_memory_percent=snapshot.system_memory_percent,
            event_loop_lag_ms=snapshot.loop_lag_s * 1000,
        )


@strawberry.type(description="What this worker served over the last `windowSeconds`.")
class ServerStats:
    window_seconds: float
    requests: int
    request_rate: float = strawberry.field(description="Requests per second over the window.")
    error_rate: float = strawberry.field(description="Share of requests with an error, 0..1.")
    p50_ms: float
    p95_ms: float
    p99_ms: float
    slowest_operations: list[OperationLatency]
    slowest_sql: list[SqlFingerprint]
    busiest_sql: list[SqlFingerprint] = strawberry.field(
        description="The statement shapes that took the most time in all, most first."
    )
    caches: list[CacheUse]
    system: SystemResources

    @classmethod
    def from_monitor(cls, monitor: Monitor) -> ServerStats:
        window = monitor.requests.stats(SLOWEST)
        return cls(
            window_seconds=window.window_s,
            requests=window.requests,
            request_rate=window.request_rate,
            error_rate=window.error_rate,
            p50_ms=window.p50_s * 1000,
            p95_ms=window.p95_s * 1000,
            p99_ms=window.p99_s * 1000,
            slowest_operations=[OperationLatency.from_stats(s) for s in window.slowest],
            slowest_sql=[
                SqlFingerprint.from_stats(s, monitor.plans)
                for s in monitor.sql.stats.slowest(SLOWEST)
            ],
            busiest_sql=[
                SqlFingerprint.from_stats(s, monitor.plans)
                for s in monitor.sql.stats.busiest(SLOWEST)
            ],
            caches=[CacheUse.from_ratio(r) for r in monitor.cache.ratios()],
            system=SystemResources.from_snapshot(monitor.sample()),
        )


def server_stats(info: strawberry.Info[Context]) -> ServerStats:
    require_scope(info, "admin")
    monitor = info.context.resources.monitor
    if monitor is None:
        raise NotFound("this process collects no statistics")
    return ServerStats.from_monitor(monitor)
