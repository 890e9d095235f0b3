"""Shared pieces of the fault suite: a log collector, a relay in front of PostgreSQL, and a
private redis-server to kill and freeze."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from app.config import Settings
from tests.cache.proxy import Relay
from tests.faults.services import REDIS_SERVER, RedisServer


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
    """Records of the app's loggers and of Strawberry's error logger."""
    records = Records()
    loggers = [logging.getLogger(name) for name in ("insitechart", "strawberry.execution")]
    for logger in loggers:
        logger.addHandler(records)
    try:
        yield records
    finally:
        for logger in loggers:
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


@pytest.fixture
async def private_redis(
    tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[RedisServer]:
    """A redis-server of this test's own (killing the shared one would hurt everyone)."""
    if not Path(REDIS_SERVER).exists():
        required = request.config.getoption("--require-services") or os.environ.get(
            "INSITECHART_REQUIRE_SERVICES"
        )
        if required:
            pytest.fail("redis-server is not installed and services are required", pytrace=False)
        pytest.skip("redis-server is not installed")
    server = RedisServer(tmp_path)
    await server.start()
    try:
        yield server
    finally:
        server.stop()
