"""Prometheus metric families of one worker, and their exposition (multiprocess-aware)."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as prometheus_multiprocess

from app.monitoring.gcpause import GC_PAUSE_BUCKETS

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0)
SQL_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
COST_BUCKETS = (1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000)
BATCH_BUCKETS = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000)
OTHER = "other"
OPERATION_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]{0,63}")  # a GraphQL Name, 64 characters at most
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def prepare_workers(workers: int, environ: MutableMapping[str, str] = os.environ) -> str | None:
    """Before starting several workers, give them a shared metrics directory unless one is set.

    prometheus-client reads the variable when a worker imports it, so it must be in the
    environment the workers inherit; a fresh directory per start holds no stale counts.
    """
    if workers > 1 and not environ.get(MULTIPROC_ENV):
        environ[MULTIPROC_ENV] = tempfile.mkdtemp(prefix="insitechart-metrics-")
    return environ.get(MULTIPROC_ENV) or None


@contextmanager
def worker_metrics(
    workers: int, environ: MutableMapping[str, str] = os.environ
) -> Iterator[str | None]:
    """`prepare_workers` for the life of a server; the directory it made goes when it stops."""
    preset = environ.get(MULTIPROC_ENV)
    path = prepare_workers(workers, environ)
    try:
        yield path
    finally:
        if path is not None and not preset:
            shutil.rmtree(path, ignore_errors=True)
            environ.pop(MULTIPROC_ENV, None)


class Metrics:
    """The metric families; operation names beyond `max_operations` share the label "other"."""

    def __init__(self, max_operations: int, multiproc_dir: str | None = None) -> None:
        self.max_operations = max_operations
        self.multiproc_dir = multiproc_dir
        self._operations: set[str] = set()
        self.registry = registry = CollectorRegistry()
        self.request_seconds = Histogram(
            "insitechart_graphql_request_duration_seconds",
            "GraphQL operation latency by operation name.",
            ["operation"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.errors = Counter(
            "insitechart_graphql_errors",
            "GraphQL errors by extensions.code.",
            ["code"],
            registry=registry,
        )
        self.cost = Histogram(
            "insitechart_graphql_cost",
            "Computed cost of executed operations.",
            buckets=COST_BUCKETS,
            registry=registry,
        )
        self.cache = Counter(
            "insitechart_cache_requests",
            "Cache look-ups by cache type and result (hit or miss).",
            ["type", "result"],
            registry=registry,
        )
        self.batch_size = Histogram(
            "insitechart_loader_batch_size",
            "Keys per DataLoader batch.",
            ["loader"],
            buckets=BATCH_BUCKETS,
            registry=registry,
        )
        self.sql_seconds = Histogram(
            "insitechart_sql_statement_duration_seconds",
            "Duration of each SQL statement.",
            buckets=SQL_BUCKETS,
            registry=registry,
        )
        self.pool_checked_out = Gauge(
            "insitechart_db_pool_checked_out",
            "Database connections in use.",
            multiprocess_mode="livesum",
            registry=registry,
        )
        self.pool_size = Gauge(
            "insitechart_db_pool_size",
            "Database connections held by the pool.",
            multiprocess_mode="livesum",
            registry=registry,
        )
        self.loop_lag = Gauge(
            "insitechart_event_loop_lag_seconds",
            "How late the event loop woke a sleeping sampler.",
            multiprocess_mode="livemax",
            registry=registry,
        )
        self.loop_lag_max = Gauge(
            "insitechart_event_loop_lag_max_seconds",
            "The longest event-loop lag measured since the worker started.",
            multiprocess_mode="livemax",
            registry=registry,
        )
        self.loop_lags = Histogram(
            "insitechart_event_loop_lag_observed_seconds",
            "Every event-loop lag the sampler measured (the gauge keeps only the latest).",
            buckets=GC_PAUSE_BUCKETS,
            registry=registry,
        )
        self.gc_pauses = Histogram(
            "insitechart_gc_pause_seconds",
            "Duration of each garbage collection (the event loop waits it out), by generation.",
            ["generation"],
            buckets=GC_PAUSE_BUCKETS,
            registry=registry,
        )
        self.gc_pause_max = Gauge(
            "insitechart_gc_pause_max_seconds",
            "The longest garbage collection since the worker started, by generation.",
            ["generation"],
            multiprocess_mode="livemax",
            registry=registry,
        )
        self.cpu = Gauge(
            "insitechart_process_cpu_percent",
            "CPU use of the worker process, percent of one core.",
            multiprocess_mode="livesum",
            registry=registry,
        )
        self.rss = Gauge(
            "insitechart_process_resident_memory_bytes",
            "Resident memory of the worker process.",
            multiprocess_mode="livesum",
            registry=registry,
        )
        self.open_fds = Gauge(
            "insitechart_process_open_fds",
            "Open file descriptors of the worker process.",
            multiprocess_mode="livesum",
            registry=registry,
        )
        self.heap_trims = Histogram(
            "insitechart_heap_trim_seconds",
            "Time of each malloc_trim of the memory upkeep (its full collections are in "
            "insitechart_gc_pause_seconds).",
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25),
            registry=registry,
        )
        self.full_collections = Counter(
            "insitechart_full_gc_total",
            "Full garbage collections run by the memory upkeep (RSS grew, and idle or past "
            "the forced limit).",
            registry=registry,
        )
        self.threads = Gauge(
            "insitechart_process_threads",
            "Threads of the worker process.",
            multiprocess_mode="livesum",
            registry=registry,
        )
        self.system_cpu = Gauge(
            "insitechart_system_cpu_percent",
            "CPU use of the whole machine, percent.",
            multiprocess_mode="livemax",
            registry=registry,
        )
        self.system_memory = Gauge(
            "insitechart_system_memory_percent",
            "Memory use of the whole machine, percent.",
            multiprocess_mode="livemax",
            registry=registry,
        )

    def operation_label(self, name: object) -> str:
        """Bound the label's cardinality: clients choose operation names."""
        if not isinstance(name, str) or not OPERATION_NAME.fullmatch(name):
            return OTHER  # not a GraphQL name: never a label of its own
        if name in self._operations:
            return name
        if len(self._operations) >= self.max_operations:
            return OTHER
        self._operations.add(name)
        return name

    def retire(self, pid: int) -> None:
        """Drop a stopping worker's live gauges from the multiprocess directory."""
        if self.multiproc_dir is not None:
            prometheus_multiprocess.mark_process_dead(pid, self.multiproc_dir)  # type: ignore[no-untyped-call]

    def render(self) -> tuple[bytes, str]:
        """The exposition text; with a multiprocess directory, summed over all workers."""
        if self.multiproc_dir is None:
            return generate_latest(self.registry), CONTENT_TYPE_LATEST
        registry = CollectorRegistry()
        prometheus_multiprocess.MultiProcessCollector(  # type: ignore[no-untyped-call]
            registry, path=self.multiproc_dir
        )
        return generate_latest(registry), CONTENT_TYPE_LATEST
