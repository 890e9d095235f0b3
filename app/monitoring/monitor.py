"""The monitoring state of one worker process: SQL instrumentation, metrics, windowed stats."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

from app.config import Settings
from app.db import Database
from app.monitoring import collector, heap
from app.monitoring.alerts import Alerts, Reading
from app.monitoring.collector import LoaderBatch
from app.monitoring.gcpause import GcPauses
from app.monitoring.metrics import Metrics
from app.monitoring.otel import Tracer, make_tracer
from app.monitoring.plans import PlanCapture
from app.monitoring.sql import SqlMonitor
from app.monitoring.stats import CacheWindow, RequestWindow
from app.monitoring.system import SystemSampler, SystemSnapshot

log = logging.getLogger("insitechart.monitoring")
IDLE_CPU_FRACTION = 0.05  # of one core: below it, nothing is being served


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
        self.gc_pauses = GcPauses(self.metrics.gc_pauses, self.metrics.gc_pause_max)
        self.latest: SystemSnapshot | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.alerts = Alerts(settings) if settings.alert_webhook_url else None
        self.tracer: Tracer | None = make_tracer(settings.trace_otel)
        self.plans: PlanCapture | None = None
        self._replicas: list[Database] = []
        self._rss_after_full: int | None = None  # RSS after the last full collection
        # Labelled children of the metrics, by metric and labels (all of bounded cardinality).
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}

    @classmethod
    def open(cls, settings: Settings, db: Database) -> Monitor:
        monitor = cls(settings, db)
        monitor.sql.attach(db.engine.sync_engine)
        db.watchers.append(monitor.sql)
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
            replica.watchers.append(self.sql)
            self._replicas.append(replica)
        if self.plans is not None:
            self.plans.reader = reader

    def start(self) -> None:
        """Start the samplers; call from the running event loop (the app's lifespan)."""
        self.gc_pauses.install()
        self._tasks.append(asyncio.create_task(self._sample_forever()))
        self._tasks.append(
            asyncio.create_task(
                self.system.measure_loop_lag(
                    self.settings.metrics_loop_lag_interval_s, self.metrics.loop_lags.observe
                )
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
        self.gc_pauses.uninstall()
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
        self._child(self.metrics.request_seconds, label).observe(duration_s)
        for code in error_codes:
            self._child(self.metrics.errors, code).inc()
        if cost is not None:
            self.metrics.cost.observe(cost)
        for batch in batches:
            self._child(self.metrics.batch_size, batch.loader).observe(batch.keys)
        self.requests.record(label, duration_s, bool(error_codes))

    def _child(self, metric: Any, *labels: str) -> Any:
        """`metric.labels(*labels)`, looked up once: every request and every hit records."""
        key = (id(metric), labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def record_cache(self, kind: str, hit: bool, count: int = 1) -> None:
        """Count cache look-ups of one type, in the metrics, the window and the request's trace."""
        self._child(self.metrics.cache, kind, "hit" if hit else "miss").inc(count)
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
        metrics.loop_lag_max.set(snapshot.loop_lag_max_s)
        pool = self.db.engine.pool
        checked_out = getattr(pool, "checkedout", None)
        size = getattr(pool, "size", None)
        if callable(checked_out) and callable(size):
            metrics.pool_checked_out.set(checked_out())
            metrics.pool_size.set(size())
        self.latest = snapshot
        return snapshot

    def trim_heap(self) -> None:
        """Give the C heap's free pages back to the system (app/monitoring/heap.py).

        No collection here: the young generations are collected by Python as they fill
        (app/runtime.py), and an extra one landing in a burst of live events only added a pause.
        """
        started = time.perf_counter()
        heap.trim()
        self.metrics.heap_trims.observe(time.perf_counter() - started)

    def growth_since_full_pct(self) -> float | None:
        """RSS growth since the last full collection, percent; None on the first call, which
        only records the reference point."""
        rss = self.system.rss_bytes()
        if self._rss_after_full is None:
            self._rss_after_full = rss
            return None
        return (rss / self._rss_after_full - 1) * 100

    async def idle(self) -> bool:
        """Whether this process stayed under IDLE_CPU_FRACTION of a core over MEMORY_FULL_GC_IDLE_S:
        measured, not guessed, so a full pass never lands on requests or live events."""
        window = self.settings.memory_full_gc_idle_s
        before = self.system.cpu_seconds()
        await asyncio.sleep(window)
        return self.system.cpu_seconds() - before < IDLE_CPU_FRACTION * window

    async def upkeep(self) -> None:
        """One memory upkeep pass: malloc_trim always; a full collection
        when memory grew and the worker is idle, or when it grew past MEMORY_FULL_GC_FORCED_PCT.

        A full collection walks every tracked object: with 10,000 connections it holds the loop
        for hundreds of milliseconds. Nothing a closed connection leaves needs one (its cycles
        are broken at close: app/http/connections.py, app/http/wire.py, schema/multiplex.py)
        and Python's own automatic full collections are off (app/runtime.py). What this pass
        frees is the cycles of requests that outlived the young generations (GraphQL execution
        and loader futures: ~9 objects a request in the soak); the forced pass bounds memory
        on a worker that is never idle.
        """
        self.trim_heap()
        settings = self.settings
        growth = self.growth_since_full_pct()
        if growth is None or growth <= settings.memory_full_gc_growth_pct:
            return
        forced = 0 < settings.memory_full_gc_forced_pct < growth
        if not forced and (settings.memory_full_gc_idle_s <= 0 or not await self.idle()):
            return  # memory stays due: the next interval looks again
        if forced:
            log.warning("memory grew %.0f%% without an idle moment: full collection now", growth)
        gc.collect()
        self.metrics.full_collections.inc()
        heap.trim()
        self._rss_after_full = self.system.rss_bytes()

    async def _trim_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.memory_trim_interval_s)
            try:
                await self.upkeep()
            except Exception:
                log.exception("memory upkeep failed")

    async def _sample_forever(self) -> None:
        while True:
            try:
                self.sample()
            except Exception:
                log.exception("system sampling failed")
            await asyncio.sleep(self.settings.metrics_sample_interval_s)
