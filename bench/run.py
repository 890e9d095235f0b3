"""`python -m bench run`: the reference mix against the real server and the naive baseline."""

from __future__ import annotations

import asyncio
import json
import os
import resource
import tempfile
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from app.config import Settings
from bench.config import BenchConfig, bench_key, read_operations
from bench.loadgen import LoadSpec
from bench.report import machine, metrics_cache_hit_ratio, now_iso, ratio, table
from bench.server import KINDS, Server, load_process, running, watch
from bench.sqlcount import count_per_operation
from bench.workload import MIX, Workload


@dataclass(frozen=True, slots=True)
class RunOptions:
    workers: int = 1
    duration_s: float = 30.0
    concurrency: int = 32
    max_requests: int = 20_000
    warmup_requests: int = 50
    stocks: int = 500
    only: str | None = None
    solo_repeat: int = 5
    as_tier: str = "anonymous"  # or "internal": the load sends an internal key (no response cache)


def load_phase(server: Server, spec: Any, module: str = "bench.loadgen") -> dict[str, Any]:
    """Drive `server` with a load generator in its own process; add the server's usage."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "result.json"
        children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        process = load_process(json.dumps(asdict(spec)), path, module)
        usage = watch(server, process)
        # The load generator has been waited for (the servers have not): its CPU alone.
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        client_cpu_s = (children.ru_utime - children_before.ru_utime) + (
            children.ru_stime - children_before.ru_stime
        )
        if process.returncode != 0:
            raise RuntimeError(f"the load generator failed with {process.returncode}")
        result: dict[str, Any] = json.loads(path.read_text())
    result["server"] = usage.as_dict()
    result["load_generator_cores"] = round(client_cpu_s / usage.wall_s, 2) if usage.wall_s else 0
    step = max(1, len(usage.samples) // 40)
    result["rss_samples_mb"] = [round(x, 1) for x in usage.samples[::step]]
    result["load_avg_after"] = [round(x, 2) for x in os.getloadavg()]
    # The response cache's ratio as the clients saw it (X-Cache), and the server's own counters
    # once it exposes Prometheus /metrics ("n/a" until then).
    result["cache_hit_ratio"] = result.get("ops", {}).get("ALL", {}).get("cache_hit_ratio")
    result["metrics_cache_hit_ratio"] = metrics_cache_hit_ratio(server.url)
    return result


def statements(config: BenchConfig, options: RunOptions) -> dict[str, dict[str, Any]]:
    workload = Workload(read_operations(), options.stocks, seed=7)
    names = [options.only] if options.only else list(MIX)
    requests = [workload.request(name) for name in names]
    settings = Settings(database_url=config.database_url, log_level="warning")
    return asyncio.run(count_per_operation(settings, requests, options.solo_repeat))


def ratios(real: dict[str, Any], naive: dict[str, Any], sql: dict[str, Any]) -> dict[str, Any]:
    """Speed-ups against the baseline: > 1 means the real server does better."""
    out: dict[str, Any] = {}
    for name, r in real["ops"].items():
        n = naive["ops"].get(name)
        if n is None:
            continue
        out[name] = {
            "rps": ratio(r["rps"], n["rps"]),
            "p50": ratio(n["p50_ms"], r["p50_ms"]),
            "p95": ratio(n["p95_ms"], r["p95_ms"]),
            "p99": ratio(n["p99_ms"], r["p99_ms"]),
            "sql": ratio(sql[name]["naive"], sql[name]["real"]) if name in sql else None,
        }
        solo = sql.get(name, {}).get("solo_ms")
        if solo:
            out[name]["solo"] = ratio(solo["naive"], solo["real"])
    return out


def run_benchmark(config: BenchConfig, options: RunOptions) -> dict[str, Any]:
    report: dict[str, Any] = {
        "command": "run",
        "date": now_iso(),
        "machine": machine(),
        "options": asdict(options),
        "mix": MIX,
        "sql_per_operation": statements(config, options),
    }
    phases: dict[str, Any] = {}
    with ExitStack() as stack:
        token = None
        if options.as_tier == "internal":
            token = stack.enter_context(bench_key(config, "bench-loadgen", ("read",)))
        for kind in KINDS:
            phases[kind] = run_phase(kind, config, options, token)
    report["phases"] = phases
    report["vs_naive"] = ratios(phases["real"], phases["naive"], report["sql_per_operation"])
    return report


def run_phase(
    kind: str, config: BenchConfig, options: RunOptions, token: str | None
) -> dict[str, Any]:
    port = config.port if kind == "real" else config.naive_port
    with running(kind, config, options.workers, port) as server:
        spec = LoadSpec(
            url=server.url,
            concurrency=options.concurrency,
            duration_s=options.duration_s,
            max_requests=options.max_requests,
            stocks=options.stocks,
            warmup_requests=options.warmup_requests,
            only=options.only,
            token=token,
        )
        return load_phase(server, spec)


def render(report: dict[str, Any]) -> str:
    real, naive = report["phases"]["real"], report["phases"]["naive"]
    sql, vs = report["sql_per_operation"], report["vs_naive"]
    rows = []
    for name, r in real["ops"].items():
        n, v = naive["ops"].get(name, {}), vs.get(name, {})
        rows.append([
            name, r["rps"], f"x{v.get('rps')}", r["p50_ms"], r["p95_ms"], f"x{v.get('p95')}",
            r["p99_ms"], r["errors"], n.get("errors", "-"),
            sql.get(name, {}).get("real", "-"), sql.get(name, {}).get("naive", "-"),
            sql.get(name, {}).get("solo_ms", {}).get("real", "-"), f"x{v.get('solo')}",
            r.get("cache_hit_ratio"),
        ])  # fmt: skip
    headers = [
        "operation", "req/s", "vs naive", "p50 ms", "p95 ms", "vs naive", "p99 ms",
        "errors", "naive err", "SQL", "naive SQL", "alone ms", "vs naive", "hit ratio",
    ]  # fmt: skip
    lines = [
        f"{report['date']}  workers={report['options']['workers']}  "
        f"concurrency={report['options']['concurrency']}  {report['machine']['cpu']}",
        table(headers, rows),
        f"as {report['options']['as_tier']}; response cache hit ratio (X-Cache): "
        f"{real['cache_hit_ratio']}; from /metrics: {real['metrics_cache_hit_ratio']}",
        f"server real: {real['server']}  load generator: {real.get('load_generator_cores')} cores",
        f"server naive: {naive['server']}",
        "results match naive: " + ", ".join(f"{k}={v['results_match']}" for k, v in sql.items()),
    ]
    return "\n".join(lines)
