"""A production server (`insitechart serve`, APP_ENV=production) in a subprocess, and its log.

One per test module and backend: a request that stalls it cannot stall the test, which keeps
asking `/healthz` on its own event loop.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.db import create_database
from tests.factories.stocks import make_stock

METRICS_TOKEN = "hostile-suite-metrics-token"
START_TIMEOUT_S = 30.0


@dataclass
class Server:
    url: str
    log_path: Path

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/graphql"

    def log_lines(self) -> list[str]:
        return self.log_path.read_text(errors="replace").splitlines()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def wait_healthy(url: str, process: asyncio.subprocess.Process) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            if process.returncode is not None:
                raise RuntimeError(f"the server exited with {process.returncode}")
            try:
                if (await client.get(f"{url}/healthz", timeout=1)).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise TimeoutError("the server did not start in time")


async def seed(database_url: str) -> None:
    db = create_database_for(database_url)
    try:
        async with db.sessionmaker.begin() as session:
            await make_stock(session, "AAPL")
    finally:
        await db.dispose()


def create_database_for(database_url: str) -> Any:
    from app.config import Settings

    return create_database(Settings(database_url=database_url))


@pytest.fixture(scope="module")
async def server(database_url: str) -> AsyncIterator[Server]:
    await seed(database_url)
    port = free_port()
    log_file = tempfile.NamedTemporaryFile(prefix="hostile-", suffix=".log", delete=False)
    env = {
        **{k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "PYTHONPATH")},
        "DATABASE_URL": database_url,
        "APP_ENV": "production",
        "LOG_LEVEL": "info",
        "CACHE_WARM_ON_START": "false",
        "CACHE_WARM_INTERVAL_S": "0",
        "METRICS_TOKEN": METRICS_TOKEN,
        # Room for the property test's hundreds of requests from one address; the budget's own
        # rules are tested in-process (test_refusals_cost.py, test_websocket_budget.py).
        "BUDGET_ANONYMOUS_CAPACITY": "1000000",
        "BUDGET_ANONYMOUS_RESTORE_PER_S": "100000",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app.cli",
        "serve",
        "--port",
        str(port),
        env=env,
        cwd=Path(__file__).resolve().parents[2],
        stdout=log_file,
        stderr=log_file,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_healthy(url, process)
        yield Server(url, Path(log_file.name))
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()
        log_file.close()
        os.unlink(log_file.name)
        db = create_database_for(database_url)
        try:
            from tests.conftest import empty_tables

            await empty_tables(db)
        finally:
            await db.dispose()


@pytest.fixture
async def http(server: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        yield client
