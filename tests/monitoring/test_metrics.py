"""`/metrics`: the families a scrape sees after real requests, in one worker and across workers."""

from __future__ import annotations

import gc
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from app.config import Settings
from app.db import Database
from app.main import create_app
from app.monitoring.metrics import prepare_workers, worker_metrics
from tests.conftest import graphql, serve
from tests.factories.universe import make_universe

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples(text: str) -> Samples:
    found: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


async def scrape(client: httpx.AsyncClient) -> Samples:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return samples(response.text)


async def test_metrics_expose_latency_batches_sql_errors_and_cache_after_requests(
    db: Database, settings: Settings, operations: dict[str, str]
) -> None:
    await make_universe(db, 4, 3)
    app = create_app(settings)
    async with serve(app) as client:
        body = await graphql(client, operations["MentionFeed"])
        assert "errors" not in body, body
        bad = await graphql(client, "query Bad { stocks(first: 1000) { nodes { symbol } } }")
        assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
        await graphql(client, "query Typo { nope }")
        await graphql(client, "query Broken { stocks(")
        monitor = app.state.resources.monitor
        monitor.record_cache("sentiment", True)
        monitor.record_cache("sentiment", False)
        monitor.record_cache("sentiment", True)
        found = await scrape(client)

    latency = "insitechart_graphql_request_duration_seconds_count"
    assert found[(latency, (("operation", "MentionFeed"),))] == 1
    assert found[(latency, (("operation", "Bad"),))] == 1
    errors = "insitechart_graphql_errors_total"
    assert found[(errors, (("code", "BAD_USER_INPUT"),))] == 1
    assert found[(errors, (("code", "GRAPHQL_VALIDATION_FAILED"),))] == 1
    assert found[(errors, (("code", "GRAPHQL_PARSE_FAILED"),))] == 1
    assert (errors, (("code", "INTERNAL_SERVER_ERROR"),)) not in found
    batches = "insitechart_loader_batch_size"
    assert found[(f"{batches}_count", (("loader", "MentionPageLoader"),))] == 1
    assert found[(f"{batches}_sum", (("loader", "MentionPageLoader"),))] == 4
    assert found[(f"{batches}_sum", (("loader", "StockPageLoader"),))] == 1
    assert found[("insitechart_sql_statement_duration_seconds_count", ())] == 3
    cache = "insitechart_cache_requests_total"
    assert found[(cache, (("result", "hit"), ("type", "sentiment")))] == 2
    assert found[(cache, (("result", "miss"), ("type", "sentiment")))] == 1
    assert found[("insitechart_process_resident_memory_bytes", ())] > 0
    assert found[("insitechart_process_threads", ())] >= 1
    assert found[("insitechart_process_open_fds", ())] >= 1
    assert 0 <= found[("insitechart_system_memory_percent", ())] <= 100
    assert ("insitechart_event_loop_lag_seconds", ()) in found
    assert ("insitechart_event_loop_lag_max_seconds", ()) in found
    assert ("insitechart_db_pool_checked_out", ()) in found or db.dialect == "sqlite"


async def test_every_garbage_collection_is_timed_by_generation(
    db: Database, settings: Settings
) -> None:
    async with serve(create_app(settings)) as client:
        before = await scrape(client)
        gc.collect(0)
        gc.collect(2)
        found = await scrape(client)

    def count(generation: str) -> float:
        key = ("insitechart_gc_pause_seconds_count", (("generation", generation),))
        return found[key] - before.get(key, 0)

    assert count("0") >= 1
    assert count("2") >= 1
    assert found[("insitechart_gc_pause_max_seconds", (("generation", "2"),))] > 0


WORKER = """
import os, sys
from app.monitoring.metrics import Metrics
metrics = Metrics(10, sys.argv[1])
metrics.request_seconds.labels("MentionFeed").observe(0.2)
metrics.errors.labels("THROTTLED").inc()
if sys.argv[2] == "render":
    metrics.rss.set(7)
    sys.stdout.write(metrics.render()[0].decode())
else:
    metrics.rss.set(100)
    metrics.retire(os.getpid())  # a stopping worker: its counts stay, its live gauges go
"""


def test_metrics_are_summed_over_worker_processes(tmp_path: Path) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    root = Path(__file__).resolve().parents[2]

    def worker(mode: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", WORKER, str(tmp_path), mode],
            env=env,
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        return done.stdout

    worker("record")
    worker("record")
    found = samples(worker("render"))
    latency = "insitechart_graphql_request_duration_seconds_count"
    assert found[(latency, (("operation", "MentionFeed"),))] == 3
    assert found[("insitechart_graphql_errors_total", (("code", "THROTTLED"),))] == 3
    assert found[("insitechart_process_resident_memory_bytes", ())] == 7


def test_several_workers_get_a_fresh_metrics_directory_unless_one_is_set(tmp_path: Path) -> None:
    environ: dict[str, str] = {}
    assert prepare_workers(1, environ) is None
    assert environ == {}
    made = prepare_workers(4, environ)
    assert made is not None and Path(made).is_dir() and not any(Path(made).iterdir())
    Path(made).rmdir()
    chosen = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    assert prepare_workers(4, chosen) == str(tmp_path)


def test_the_metrics_directory_a_server_made_goes_when_it_stops(tmp_path: Path) -> None:
    environ: dict[str, str] = {}
    with worker_metrics(2, environ) as made:
        assert made is not None and Path(made).is_dir()
        (Path(made) / "counter_1.db").write_bytes(b"x")
    assert not Path(made).exists()
    assert environ == {}

    chosen = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    with worker_metrics(2, chosen):
        pass
    assert tmp_path.is_dir() and chosen == {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}


def test_serve_with_two_workers_leaves_no_metrics_directory(tmp_path: Path) -> None:
    temp = tmp_path / "tmp"
    temp.mkdir()
    url = f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env.update(TMPDIR=str(temp), DATABASE_URL=url, LOG_LEVEL="warning")
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    cli = [sys.executable, "-m", "app.cli"]
    subprocess.run([*cli, "migrate"], env=env, cwd=tmp_path, check=True, timeout=60)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [*cli, "serve", "--workers", "2", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, "the server exited"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "the server did not answer"
                time.sleep(0.2)
        assert [p.name.startswith("insitechart-metrics-") for p in temp.iterdir()] == [True]
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    assert list(temp.iterdir()) == []
