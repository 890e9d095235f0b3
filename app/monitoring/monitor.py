"""The monitoring state of one worker process: SQL instrumentation, metrics, windowed stats."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import time
from collections.abc import Callable, Sequence

from app.config import Settings
from app.db import Database
from app.monitoring import collector, heap
from app.monitoring.alerts import Alerts, Reading
from app.monitoring.collector import LoaderBatch
from app.monitoring.metrics import Metrics
from app.monitoring.otel import Tracer, make_tracer
from app.monitoring.plans import PlanCapture
from app.monitoring.sql import SqlMonitor
from app.monitoring.stats import CacheWindow, RequestWindow
from app.monitoring.system import SystemSampler, SystemSnapshot

log = logging.getLogger("insitechart.monitoring")


class Monitor:
    """Opened with the process's resources; every request records into it."""

    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.db = db
        self.metrics = Metrics(settings.metrics_max_operations, settings.prometheus_multiproc_dir)
        self.sql = SqlMonitor(
            settings.trace_slow_sql_ms,
            settings.trace_sql_fingerprints,
            observe=self.metrics.sql_seconds.observe,
        )
        self.requests = RequestWindow(settings.metrics_window_s, settings.metrics_window_requests)
        self.cache = CacheWindow(settings.metrics_window_s)
        self.system = SystemSampler()
        self.latest: SystemSnapshot | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.alerts = Alerts(settings) if settings.alert_webhook_url else None
        self.tracer: Tracer | None = make_tracer(settings.trace_otel)
        self.plans: PlanCapture | None = None
        self._replicas: list[Database] = []
        self._rss_after_full: int | None = None  # RSS after the last full collection

    @classmethod
    def open(cls, settings: Settings, db: Database) -> Monitor:
        monitor = cls(settings, db)
        monitor.sql.attach(db.engine.sync_engine)
        if settings.trace_sql_plans and db.dialect == "postgresql":
            monitor.plans = PlanCapture(
                db, settings.trace_sql_plans_kept, settings.trace_sql_large_table_rows
            )
            monitor.sql.plans = monitor.plans
        return monitor

    def watch_replicas(self, replicas: Sequence[Database], reader: Callable[[], Database]) -> None:
        """Record the replicas' statements too, and take plans where `reader` says reads go."""
        for replica in replicas:
            self.sql.attach(replica.engine.sync_engine)
            self._replicas.append(replica)
        if self.plans is not None:
            self.plans.reader = reader

    def start(self) -> None:
        """Start the samplers; call from the running event loop (the app's lifespan)."""
        self._tasks.append(asyncio.create_task(self._sample_forever()))
        self._tasks.append(
            asyncio.create_task(
                self.system.measure_loop_lag(self.settings.metrics_loop_lag_interval_s)
            )
        )
        if self.alerts is not None:
            self._tasks.append(asyncio.create_task(self.alerts.run_forever(self.reading)))
        if self.settings.memory_trim_interval_s > 0:
            self._tasks.append(asyncio.create_task(self._trim_forever()))

    def reading(self) -> Reading:
        """The figures the alert rules judge: the request window and a fresh system sample."""
        window = self.requests.stats(slowest=0)
        system = self.sample()
        return Reading(
            requests=window.requests,
            p95_s=window.p95_s,
            p99_s=window.p99_s,
            error_rate=window.error_rate,
            memory_percent=system.system_memory_percent,
            cpu_percent=system.system_cpu_percent,
        )

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self.plans is not None:
            await self.plans.close()
        for engine in (self.db.engine, *(r.engine for r in self._replicas)):
            self.sql.detach(engine.sync_engine)
        self.metrics.retire(os.getpid())

    def record_operation(
        self,
        operation: str,
        duration_s: float,
        error_codes: Sequence[str],
        cost: float | None,
        batches: Sequence[LoaderBatch],
    ) -> None:
        label = self.metrics.operation_label(operation)
        self.metrics.request_seconds.labels(label).observe(duration_s)
        for code in error_codes:
            self.metrics.errors.labels(code).inc()
        if cost is not None:
            self.metrics.cost.observe(cost)
        for batch in batches:
            self.metrics.batch_size.labels(batch.loader).observe(batch.keys)
        self.requests.record(label, duration_s, bool(error_codes))

    def record_cache(self, kind: str, hit: bool, count: int = 1) -> None:
        """Count cache look-ups of one type, in the metrics, the window and the request's trace."""
        self.metrics.cache.labels(kind, "hit" if hit else "miss").inc(count)
        self.cache.record(kind, hit, count)
        trace = collector.current()
        if trace is not None:
            trace.record_cache(kind, hit, count)

    def cache_event(self, kind: str, event: str, count: int) -> None:
        """The cache's `on_record` hook: its hits and misses; other events are its own stats."""
        if event in ("hits", "misses"):
            self.record_cache(kind, event == "hits", count)

    def sample(self) -> SystemSnapshot:
        """Read the system and pool figures now and publish them as gauges."""
        snapshot = self.system.sample()
        metrics = self.metrics
        metrics.cpu.set(snapshot.cpu_percent)
        metrics.rss.set(snapshot.rss_bytes)
        metrics.open_fds.set(snapshot.open_fds)
        metrics.threads.set(snapshot.threads)
        metrics.system_cpu.set(snapshot.system_cpu_percent)
        metrics.system_memory.set(snapshot.system_memory_percent)
        metrics.loop_lag.set(snapshot.loop_lag_s)
        pool = self.db.engine.pool
        checked_out = getattr(pool, "checkedout", None)
        size = getattr(pool, "size", None)
        if callable(checked_out) and callable(size):
            metrics.pool_checked_out.set(checked_out())
            metrics.pool_size.set(size())
        self.latest = snapshot
        return snapshot

    def trim_heap(self) -> None:
        """Collect the young generations, give the C heap's free pages back to the system
        (app/monitoring/heap.py), and run a full collection only when memory grew.

        A full collection walks every tracked object: with 10,000 connections it held the loop
        for hundreds of milliseconds, so one per interval pushed the live p99 past 1 s. Young
        generations are a few milliseconds; what closed connections leave is freed by
        refcounting where their cycles are broken (schema/multiplex.py), and the rest waits for
        a full pass that runs only once RSS has grown MEMORY_FULL_GC_GROWTH_PCT since the last
        one: the pause is paid only when it buys memory back.
        """
        started = time.perf_counter()
        gc.collect(1)
        rss = self.system.rss_bytes()
        growth = 1 + self.settings.memory_full_gc_growth_pct / 100
        if self._rss_after_full is None:
            self._rss_after_full = rss  # the reference point: no full pass for it
            heap.trim()
        elif rss > self._rss_after_full * growth:
            gc.collect()
            self.metrics.full_collections.inc()
            heap.trim()
            self._rss_after_full = self.system.rss_bytes()
        else:
            heap.trim()
        self.metrics.heap_trims.observe(time.perf_counter() - started)

    async def _trim_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.memory_trim_interval_s)
            try:
                self.trim_heap()
            except Exception:
                log.exception("heap trim failed")

    async def _sample_forever(self) -> None:
        while True:
            try:
                self.sample()
            except Exception:
                log.exception("system sampling failed")
            await asyncio.sleep(self.settings.metrics_sample_interval_s)
