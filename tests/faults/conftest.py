"""Shared pieces of the fault suite: a log collector, a relay in front of PostgreSQL, and a
private redis-server to kill and freeze."""

from __future__ import annotations

import asyncio
import logging
import shutil
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from app.config import Settings
from tests.cache.proxy import Relay, closed_port


class Records(logging.Handler):
    """The app's logging does not propagate to pytest's capture: collect records here."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def lines(self, level: int = logging.WARNING) -> list[str]:
        return [r.getMessage() for r in self.records if r.levelno >= level]

    def tracebacks(self) -> int:
        return sum(1 for r in self.records if r.exc_info)


@contextmanager
def app_logs() -> Iterator[Records]:
    records = Records()
    logger = logging.getLogger("insitechart")
    logger.addHandler(records)
    try:
        yield records
    finally:
        logger.removeHandler(records)


@asynccontextmanager
async def relayed_database(settings: Settings) -> AsyncIterator[tuple[Relay, Settings]]:
    """A relay in front of the test database, and settings that reach it through the relay."""
    url = make_url(settings.database_url)
    relay = Relay(url.host or "127.0.0.1", url.port or 5432)
    await relay.start()
    relayed = url.set(host="127.0.0.1", port=relay.port).render_as_string(hide_password=False)
    try:
        yield relay, settings.model_copy(update={"database_url": relayed})
    finally:
        await relay.stop()


class RedisServer:
    """A private redis-server on a free port, to kill, freeze and restart."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = closed_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        self.process = subprocess.Popen(
            [
                *(REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--dir", str(self.workdir)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                if time.monotonic() > deadline:
                    raise TimeoutError("redis-server did not start") from None
                await asyncio.sleep(0.05)
                continue
            writer.close()
            return

    def kill(self) -> None:
        """SIGKILL: connections drop, new ones are refused."""
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
            self.process = None

    def freeze(self) -> None:
        """SIGSTOP: the port still accepts connections, nothing answers."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGCONT)
            self.kill()


REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


@pytest.fixture
async def private_redis(tmp_path: Path) -> AsyncIterator[RedisServer]:
    if not Path(REDIS_SERVER).exists():
        pytest.skip("redis-server is not installed")
    server = RedisServer(tmp_path)
    await server.start()
    try:
        yield server
    finally:
        server.stop()
