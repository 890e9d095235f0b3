"""PostGraphile 4 on the bench database, started with `npx` in its own Node process."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from sqlalchemy.engine import make_url

from bench.config import PROJECT_ROOT, BenchConfig
from bench.server import LOG_DIR, Server

PACKAGES = ("postgraphile@4", "@graphile-contrib/pg-simplify-inflector@6")


def postgraphile_command(config: BenchConfig, port: int) -> list[str]:
    """PostGraphile as a team would run it in production: no query log, no GraphiQL, no
    mutations (only reads are compared), the simplify inflector for plain field names."""
    url = make_url(config.database_url).set(drivername="postgresql")
    npx = shutil.which("npx")
    if npx is None:
        raise SystemExit("bench peers: npx (Node 20) is needed to run PostGraphile")
    packages = [arg for pkg in PACKAGES for arg in ("-p", pkg)]
    return [
        npx, "--yes", *packages, "postgraphile",
        "--connection", url.render_as_string(hide_password=False),
        "--schema", "public",
        "--host", config.host, "--port", str(port),
        "--append-plugins", "@graphile-contrib/pg-simplify-inflector",
        "--disable-default-mutations", "--disable-query-log", "--no-setof-functions-contain-nulls",
    ]  # fmt: skip


def wait_graphql(server: Server, timeout_s: float) -> None:
    """Until `server` answers `{ __typename }` at /graphql (npx may download first)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.kind} exited with {server.process.returncode}")
        try:
            reply = httpx.post(
                f"{server.url}/graphql", json={"query": "{ __typename }"}, timeout=2.0
            )
            if reply.status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{server.kind} not ready at {server.url} after {timeout_s}s")


@contextmanager
def running_postgraphile(
    config: BenchConfig, port: int, timeout_s: float = 180.0
) -> Iterator[Server]:
    """PostGraphile on 127.0.0.1:`port`, ready for requests; stopped on exit. The computed
    columns (bench/peers/sql.py) must exist before it starts: it reads the schema once."""
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "NODE_ENV": "production"}
    with (LOG_DIR / "postgraphile-server.log").open("wb") as log:
        process = subprocess.Popen(
            postgraphile_command(config, port),
            env=env,
            cwd=PROJECT_ROOT,
            stdout=log,
            stderr=log,
            start_new_session=True,  # npx runs node as a child: stop the whole group
        )
        server = Server("postgraphile", f"http://{config.host}:{port}", process)
        try:
            wait_graphql(server, timeout_s)
            yield server
        finally:
            stop_group(process)


def stop_group(process: subprocess.Popen[bytes]) -> None:
    """Terminate npx and the node process it started (its own process group)."""
    try:
        os.killpg(process.pid, 15)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, 9)
        process.wait()
