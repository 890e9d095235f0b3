"""`python -m bench cluster`: N instances behind HAProxy, one killed mid-run.

Starts N `insitechart serve` instances (one worker each) on the bench database and Redis, HAProxy
in front with deploy/haproxy.cfg (its `server-template` line replaced by one `server` line per
instance), then plays a constant number of browsing users and reconnecting live subscribers
through the balancer, with an ingester so the subscriptions have events. At `kill_at_s` one
instance is killed with SIGKILL (no drain: a crash). The report splits the run into before,
during (the `window_s` after the kill) and after: requests, errors by kind, p50/p95/p99, and the
subscribers that were cut off and how long they took to be subscribed again.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import orjson

from bench.config import PROJECT_ROOT, BenchConfig, read_operations
from bench.live import Ingester, LiveStats, subscribe, ws_url
from bench.loadgen import client_for, send
from bench.server import LOG_DIR, Server, server_command, server_env
from bench.stats import Samples, percentile
from bench.workload import Workload, popular_symbol

HAPROXY_TEMPLATE = PROJECT_ROOT / "deploy" / "haproxy.cfg"
SERVER_TEMPLATE = re.compile(r"^\s*server-template .*$", re.M)
RESOLVERS = re.compile(r"^resolvers .*?(?=^\S)", re.M | re.S)
MAXCONN = re.compile(r"^\s*maxconn \d+$", re.M)
LOCAL_MAXCONN = 8000


@dataclass(frozen=True, slots=True)
class ClusterSpec:
    instances: int = 3
    users: int = 200
    subscribers: int = 50
    duration_s: float = 60.0
    kill_at_s: float = 20.0
    window_s: float = 10.0  # "during": this long after the kill
    think_s: float = 1.0
    ingest_per_s: float = 2.0
    stocks: int = 500
    redis_cluster: bool = False  # a private 3-master Redis Cluster instead of BENCH_REDIS_URL


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def haproxy_config(ports: list[int], template: str | None = None) -> str:
    """deploy/haproxy.cfg with one `server` line per local instance instead of DNS discovery."""
    text = template if template is not None else HAPROXY_TEMPLATE.read_text()
    servers = "\n".join(f"    server app{i + 1} 127.0.0.1:{p}" for i, p in enumerate(ports))
    rendered, count = SERVER_TEMPLATE.subn(servers, text)
    if count != 1:
        raise ValueError("deploy/haproxy.cfg must have exactly one server-template line")
    rendered = RESOLVERS.sub("", rendered)  # no DNS discovery for servers on 127.0.0.1
    # Within this machine's open-files limit (HAProxy needs about two descriptors a connection).
    return MAXCONN.sub(f"    maxconn {LOCAL_MAXCONN}", rendered)


@dataclass(slots=True)
class Timeline:
    """Every request's (time since start, latency ms, error) and every live cut and return."""

    started: float = field(default_factory=time.perf_counter)
    requests: list[tuple[float, float, str | None]] = field(default_factory=list)
    cuts: list[float] = field(default_factory=list)  # when a subscriber lost its connection
    returns: list[tuple[float, float]] = field(default_factory=list)  # (when, seconds away)

    def now(self) -> float:
        return time.perf_counter() - self.started


def error_kind(error: str) -> str:
    """A short, countable name for an error: `HTTP 503`, `CONNECTION`, or the GraphQL code."""
    if error.startswith("HTTP "):
        return error.split(":", 1)[0]
    match = re.search(r'"code":\s*"([A-Z_]+)"', error)
    return match.group(1) if match else "CONNECTION"


def phase_summary(timeline: Timeline, start: float, end: float) -> dict[str, Any]:
    inside = [(ms, err) for t, ms, err in timeline.requests if start <= t < end]
    samples = Samples()
    kinds: Counter[str] = Counter()
    for ms, err in inside:
        samples.add(ms, err)
        if err is not None:
            kinds[error_kind(err)] += 1
    summary = samples.summary(max(end - start, 1e-9))
    away = sorted(s for t, s in timeline.returns if start <= t < end)
    return {
        "from_s": round(start, 1),
        "to_s": round(end, 1),
        "requests": summary["requests"],
        "errors": summary["errors"],
        "errors_by_kind": dict(kinds),
        "rps": summary["rps"],
        "p50_ms": summary["p50_ms"],
        "p95_ms": summary["p95_ms"],
        "p99_ms": summary["p99_ms"],
        "subscribers_cut": sum(1 for t in timeline.cuts if start <= t < end),
        "subscribers_back": len(away),
        "back_p95_s": round(percentile(away, 95), 2),
    }


async def browse(client: Any, workload: Workload, spec: ClusterSpec, line: Timeline) -> None:
    rng = random.Random(workload.rng.random())
    await asyncio.sleep(rng.random() * spec.think_s)
    while True:
        name = "StockList" if rng.random() < 0.3 else "StockDetail"
        ms, error, _ = await send(client, workload.request(name))
        line.requests.append((line.now(), ms, error))
        await asyncio.sleep(rng.uniform(0.5, 1.5) * spec.think_s)


async def subscriber(
    url: str, query: str, symbols: list[str], live: LiveStats, line: Timeline
) -> None:
    """Hold a subscription; when it is cut, subscribe again (through the balancer) at once."""
    cut_at: float | None = None
    while True:
        try:
            ws = await subscribe(url, query, symbols)
        except Exception as exc:
            live.fail(f"{type(exc).__name__}: {exc}")
            cut_at = cut_at if cut_at is not None else line.now()
            await asyncio.sleep(0.2)
            continue
        live.opened += 1
        if cut_at is not None:
            line.returns.append((cut_at, line.now() - cut_at))
            cut_at = None
        try:
            async for raw in ws:
                if orjson.loads(raw).get("type") == "next":
                    live.events += 1
        except Exception as exc:
            live.fail(f"{type(exc).__name__}: {exc}")
        finally:
            live.closed += 1
            await ws.close()
        cut_at = line.now()
        line.cuts.append(cut_at)


async def play(spec: ClusterSpec, url: str, token: str, victim: Server) -> dict[str, Any]:
    workload = Workload(read_operations(), spec.stocks, seed=11)
    line = Timeline()
    live = LiveStats()
    rng = random.Random(3)
    tasks: list[asyncio.Task[None]] = []
    async with client_for(url, min(spec.users, 1000)) as client:
        ingester = Ingester(
            client, workload.operations["IngestMentions"], token, spec.ingest_per_s,
            spec.stocks, live,
        )  # fmt: skip
        tasks.append(asyncio.create_task(ingester.run()))
        query = workload.operations["LiveSentiment"]
        for _ in range(spec.subscribers):
            symbols = sorted({popular_symbol(rng, spec.stocks) for _ in range(3)})
            tasks.append(asyncio.create_task(subscriber(ws_url(url), query, symbols, live, line)))
        tasks += [
            asyncio.create_task(browse(client, workload, spec, line)) for _ in range(spec.users)
        ]
        await asyncio.sleep(spec.kill_at_s)
        killed_at = line.now()
        os.killpg(victim.process.pid, signal.SIGKILL)
        await asyncio.sleep(max(0.0, spec.duration_s - spec.kill_at_s))
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    end = line.now()
    warm = min(5.0, killed_at / 2)
    return {
        "spec": asdict(spec),
        "killed_at_s": round(killed_at, 1),
        "before": phase_summary(line, warm, killed_at),
        "during": phase_summary(line, killed_at, killed_at + spec.window_s),
        "after": phase_summary(line, killed_at + spec.window_s, end),
        "live": live.as_dict(),
    }


def start_instances(config: BenchConfig, count: int, redis_cluster: bool) -> list[Server]:
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    env = server_env(config)
    if redis_cluster:
        env["REDIS_CLUSTER"] = "true"
    servers = []
    for index in range(count):
        port = free_port()
        log = (LOG_DIR / f"cluster-app{index + 1}.log").open("wb")
        process = subprocess.Popen(
            server_command("real", "127.0.0.1", port, 1),
            env=env,
            cwd=PROJECT_ROOT,
            stdout=log,
            stderr=log,
            start_new_session=True,  # its own process group: killed whole, workers included
        )
        servers.append(Server(f"app{index + 1}", f"http://127.0.0.1:{port}", process))
    for server in servers:
        server.wait_ready()
    return servers


def start_haproxy(ports: list[int], listen: int, folder: Path) -> subprocess.Popen[bytes]:
    haproxy = shutil.which("haproxy")
    if haproxy is None:
        raise SystemExit("bench cluster: haproxy is not installed (apt-get install haproxy)")
    config = folder / "haproxy.cfg"
    config.write_text(haproxy_config(ports))
    env = {**os.environ, "LISTEN_PORT": str(listen), "STATS_PORT": str(free_port())}
    log = (LOG_DIR / "cluster-haproxy.log").open("wb")
    return subprocess.Popen([haproxy, "-db", "-f", str(config)], env=env, stdout=log, stderr=log)


def wait_balancer(url: str, timeout_s: float = 30.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"HAProxy not serving at {url} after {timeout_s}s")


def run_cluster(spec: ClusterSpec, config: BenchConfig, token: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="insitechart-cluster-") as folder:
        redis_cluster = None
        if spec.redis_cluster:
            from bench.rediscluster import RedisCluster

            redis_cluster = RedisCluster(Path(folder))
            redis_cluster.start()
            config = replace(config, redis_url=redis_cluster.url)
        try:
            return run_balanced(spec, config, token, Path(folder))
        finally:
            if redis_cluster is not None:
                redis_cluster.stop()


def run_balanced(
    spec: ClusterSpec, config: BenchConfig, token: str, folder: Path
) -> dict[str, Any]:
    import uvloop

    servers = start_instances(config, spec.instances, spec.redis_cluster)
    listen = free_port()
    ports = [int(s.url.rsplit(":", 1)[1]) for s in servers]
    balancer = start_haproxy(ports, listen, folder)
    try:
        url = f"http://127.0.0.1:{listen}"
        wait_balancer(url)
        return uvloop.run(play(spec, url, token, servers[-1]))
    finally:
        balancer.terminate()
        balancer.wait(timeout=10)
        for server in servers:
            if server.process.poll() is None:
                server.stop()


def render(report: dict[str, Any]) -> str:
    head = (
        f"{'phase':<8} {'s':>11} {'req':>6} {'err':>5} {'rps':>7} {'p50':>7} {'p95':>7} "
        f"{'p99':>7} {'cut':>4} {'back':>5} {'back p95':>9}  errors by kind"
    )
    lines = [head]
    for phase in ("before", "during", "after"):
        p = report[phase]
        lines.append(
            f"{phase:<8} {p['from_s']:>5}-{p['to_s']:<5} {p['requests']:>6} {p['errors']:>5} "
            f"{p['rps']:>7} {p['p50_ms']:>7} {p['p95_ms']:>7} {p['p99_ms']:>7} "
            f"{p['subscribers_cut']:>4} {p['subscribers_back']:>5} {p['back_p95_s']:>8}s  "
            f"{p['errors_by_kind'] or '-'}"
        )
    live = report["live"]
    redis = "a 3-master Redis Cluster" if report["spec"]["redis_cluster"] else "one Redis"
    lines.append(
        f"on {redis}; live: {live['opened']} subscribed, {live['closed']} closed, "
        f"{live['events']} events; "
        f"ingested {live['ingested']} ({live['ingest_errors']} ingest errors); "
        f"one instance killed at {report['killed_at_s']} s"
    )
    return "\n".join(lines)
