"""Start the server under test in its own processes and watch their CPU and memory."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

from bench.config import PROJECT_ROOT, BenchConfig, bench_budget_env

KINDS = ("real", "naive")
METRICS_TOKEN = "bench-metrics"  # the bench's servers only, on 127.0.0.1
LOG_DIR = PROJECT_ROOT / "bench" / "results"  # server logs of the last run (not versioned)


def server_command(kind: str, host: str, port: int, workers: int) -> list[str]:
    if kind == "real":  # the product exactly as it is deployed
        return [
            sys.executable, "-m", "app.cli", "serve",
            "--host", host, "--port", str(port), "--workers", str(workers),
        ]  # fmt: skip
    return [
        sys.executable, "-m", "uvicorn", "bench.naive.app:create_app", "--factory",
        "--host", host, "--port", str(port), "--workers", str(workers),
        "--log-level", "warning", "--proxy-headers",
    ]  # fmt: skip


def server_env(config: BenchConfig) -> dict[str, str]:
    env = dict(os.environ)
    env.update(DATABASE_URL=config.database_url, LOG_LEVEL="warning", APP_ENV="production")
    env.update(bench_budget_env())
    # Every simulated user connects from 127.0.0.1: one client for the per-client WebSocket cap.
    env["REALTIME_MAX_CONNECTIONS_PER_CLIENT"] = env["REALTIME_MAX_CONNECTIONS"] = "20000"
    # Redis pub/sub channels ignore the db number: a prefix of its own keeps the bench's events
    # away from anyone else's subscribers on the same Redis.
    env["REALTIME_CHANNEL_PREFIX"] = f"bench-{uuid.uuid4().hex[:8]}:"
    # Production guards /metrics with a bearer token (docs/SECURITY.md); the bench reads it.
    env["METRICS_TOKEN"] = METRICS_TOKEN
    if config.redis_url:
        env["REDIS_URL"] = config.redis_url
    else:
        env.pop("REDIS_URL", None)
    return env


@dataclass(slots=True)
class Usage:
    """CPU and memory of a process tree between two instants."""

    cpu_s: float = 0.0
    wall_s: float = 0.0
    rss_mb: float = 0.0
    peak_rss_mb: float = 0.0
    samples: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, float]:
        cores = self.cpu_s / self.wall_s if self.wall_s else 0.0
        return {
            "cpu_s": round(self.cpu_s, 1),
            "cpu_cores": round(cores, 2),
            "rss_mb": round(self.rss_mb, 1),
            "peak_rss_mb": round(self.peak_rss_mb, 1),
        }


@dataclass(slots=True)
class Server:
    kind: str
    url: str
    process: subprocess.Popen[bytes]

    def tree(self) -> list[psutil.Process]:
        try:
            root = psutil.Process(self.process.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def cpu_s(self) -> float:
        total = 0.0
        for proc in self.tree():
            try:
                times = proc.cpu_times()
                total += times.user + times.system
            except psutil.NoSuchProcess:
                continue
        return total

    def rss_mb(self) -> float:
        total = 0
        for proc in self.tree():
            try:
                total += proc.memory_info().rss
            except psutil.NoSuchProcess:
                continue
        return total / 2**20

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.kind} server exited with {self.process.returncode}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.kind} server not ready at {self.url} after {timeout_s}s")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@contextmanager
def running(
    kind: str,
    config: BenchConfig,
    workers: int,
    port: int,
    extra_env: dict[str, str] | None = None,
    log_name: str | None = None,
) -> Iterator[Server]:
    """A server of `kind` on 127.0.0.1:`port`, ready for requests; stopped on exit.

    `extra_env` overrides settings of that server (e.g. `CACHE_ENABLED=false`).
    """
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    with (LOG_DIR / f"{log_name or kind}-server.log").open("wb") as log:
        process = subprocess.Popen(
            server_command(kind, config.host, port, workers),
            env={**server_env(config), **(extra_env or {})},
            cwd=PROJECT_ROOT,
            stdout=log,
            stderr=log,
        )
        server = Server(kind, f"http://{config.host}:{port}", process)
        try:
            server.wait_ready()
            yield server
        finally:
            server.stop()


def load_process(
    spec_json: str, result: Path, module: str = "bench.loadgen"
) -> subprocess.Popen[bytes]:
    """A load generator in its own process: spec as an argument, JSON result into `result`."""
    return subprocess.Popen(
        [sys.executable, "-m", module, spec_json, str(result)], cwd=PROJECT_ROOT
    )


def watch(server: Server, process: subprocess.Popen[bytes], every_s: float = 0.5) -> Usage:
    """Sample the server's RSS until `process` ends; CPU is the tree's time over the period."""
    usage = Usage()
    cpu_before, started = server.cpu_s(), time.perf_counter()
    while process.poll() is None:
        rss = server.rss_mb()
        usage.samples.append(rss)
        usage.peak_rss_mb = max(usage.peak_rss_mb, rss)
        time.sleep(every_s)
    usage.cpu_s = server.cpu_s() - cpu_before
    usage.wall_s = time.perf_counter() - started
    usage.rss_mb = server.rss_mb()
    usage.peak_rss_mb = max(usage.peak_rss_mb, usage.rss_mb)
    return usage
