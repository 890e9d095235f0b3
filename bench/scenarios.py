"""`python -m bench users` and `python -m bench soak`: users ramping up, and memory over time."""

from __future__ import annotations

import time
from typing import Any

from bench.config import BenchConfig, bench_key
from bench.loadgen import LoadSpec
from bench.report import machine, now_iso, server_pauses, table
from bench.run import load_phase
from bench.server import running
from bench.userload import RampSpec


def run_users(
    config: BenchConfig, workers: int, steps: list[int], step_s: float, think_s: float,
    live_share: float = 0.2, ingest_per_s: float = 2.0,
) -> dict[str, Any]:  # fmt: skip
    """Users ramping up; a share hold a live subscription fed by an ingester with its own key."""
    report = {"command": "users", "date": now_iso(), "machine": machine(), "workers": workers}
    with (
        bench_key(config, "bench-ingest", ("read", "ingest")) as token,
        running("real", config, workers, config.port) as server,
    ):
        spec = RampSpec(
            url=server.url, steps=steps, step_s=step_s, think_s=think_s, live_share=live_share,
            ingest_token=token if ingest_per_s > 0 else None, ingest_per_s=ingest_per_s,
        )  # fmt: skip
        report.update(load_phase(server, spec, module="bench.userload"))
    return report


def render_users(report: dict[str, Any]) -> str:
    headers = [
        "users", "req/s", "p50 ms", "p95 ms", "p99 ms", "errors", "error rate", "hit ratio",
        "live held", "live failed", "events",
    ]  # fmt: skip
    rows = [
        [s["users"], s["rps"], s["p50_ms"], s["p95_ms"], s["p99_ms"], s["errors"], s["error_rate"],
         s["cache_hit_ratio"], s["live"]["held"], s["live"]["failed"], s["live"]["events"]]
        for s in report["steps"]
    ]  # fmt: skip
    return "\n".join(
        [
            f"{report['date']}  workers={report['workers']}  think={report['spec']['think_s']}s",
            table(headers, rows),
            f"saturation: {report['saturation']}",
            f"live: {report['live']}",
            f"server: {report['server']}",
            f"load generator: {report.get('load_generator_cores')} cores",
        ]
    )


def run_soak(
    config: BenchConfig, workers: int, requests: int, warmup: int, concurrency: int,
    max_duration_s: float, churn: int = 0, churn_batch: int = 1000, churn_pause_s: float = 0.0,
    settle_s: float = 0.0,
) -> dict[str, Any]:  # fmt: skip
    """Warm up, note the RSS, send `requests` more (bounded in time) while `churn` live
    connections are opened and closed `churn_batch` at a time, note it again."""
    at_start = machine()
    with running("real", config, workers, config.port) as server:
        warm = LoadSpec(url=server.url, concurrency=concurrency, duration_s=max_duration_s,
                        max_requests=warmup, seed=2, churn_connections=min(churn, 2 * churn_batch),
                        churn_batch=churn_batch)  # fmt: skip
        warm_result = load_phase(server, warm)
        time.sleep(settle_s)  # the same idle time before both readings: memory retained at rest
        rss_after_warmup = server.rss_mb()
        soak = LoadSpec(url=server.url, concurrency=concurrency, duration_s=max_duration_s,
                        max_requests=requests, seed=3, churn_connections=churn,
                        churn_batch=churn_batch, churn_pause_s=churn_pause_s)  # fmt: skip
        result = load_phase(server, soak)
        time.sleep(settle_s)
        rss_end = server.rss_mb()
        pauses = server_pauses(server.url)
    sent = result["ops"]["ALL"]["requests"]
    return {
        "command": "soak",
        "date": now_iso(),
        "machine": at_start,
        "workers": workers,
        "requests_asked": requests,
        "settle_s": settle_s,
        "requests_sent": sent,
        "warmup_requests": warm_result["ops"]["ALL"]["requests"],
        **rss_growth(rss_after_warmup, result["rss_samples_mb"], rss_end),
        "rss_samples_mb": result["rss_samples_mb"],
        "ops": result["ops"],
        "server": result["server"],
        "load_generator_cores": result.get("load_generator_cores"),
        "live": result.get("live"),
        "cache_hit_ratio": result["cache_hit_ratio"],
        "server_pauses": pauses,
    }


def rss_growth(after_warmup: float, samples: list[float], end: float) -> dict[str, float]:
    """RSS growth over the whole soak and over its second half. A leak grows at the same rate
    all along; a high-water mark (pools, windows, allocator arenas reaching their size) grows
    early and stops, so its second half is flat."""
    middle = samples[len(samples) // 2] if samples else after_warmup
    return {
        "rss_after_warmup_mb": round(after_warmup, 1),
        "rss_mid_mb": round(middle, 1),
        "rss_end_mb": round(end, 1),
        "rss_growth_pct": round((end - after_warmup) / after_warmup * 100, 2),
        "rss_growth_second_half_pct": round((end - middle) / middle * 100, 2),
    }


def render_soak(report: dict[str, Any]) -> str:
    all_ops = report["ops"]["ALL"]
    return (
        f"{report['date']}  workers={report['workers']}  requests={report['requests_sent']} "
        f"(asked {report['requests_asked']}) after {report['warmup_requests']} warm-up\n"
        f"RSS after warm-up {report['rss_after_warmup_mb']} MB, at end {report['rss_end_mb']} MB, "
        f"growth {report['rss_growth_pct']}% (second half of the run: "
        f"{report['rss_mid_mb']} -> {report['rss_end_mb']} MB, "
        f"{report['rss_growth_second_half_pct']}%)\n"
        f"req/s {all_ops['rps']}  p95 {all_ops['p95_ms']} ms  p99 {all_ops['p99_ms']} ms  "
        f"errors {all_ops['errors']}  response cache hit ratio {report['cache_hit_ratio']}\n"
        f"live connections opened and closed: {report['live']}\n"
        f"server GC pauses and loop lag (/metrics): {report.get('server_pauses')}"
    )
