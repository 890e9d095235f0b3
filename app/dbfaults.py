"""What a database exception means for a client: unavailable, timed out, retryable or refused.

The driver's exceptions arrive wrapped (SQLAlchemy's DBAPIError around asyncpg's or sqlite3's);
the SQLSTATE, when there is one, is the stable part, so classification walks the chain for it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from typing import Any

from sqlalchemy import exc as sa_exc

log = logging.getLogger("insitechart.db")

UNAVAILABLE = "SERVICE_UNAVAILABLE"
TIMEOUT = "TIMEOUT"
RETRYABLE = "RETRYABLE"
REFUSED = "REFUSED"  # the data itself was refused (a constraint, an encoding): retrying won't help

RETRY_AFTER_S = {UNAVAILABLE: 2, TIMEOUT: 1, RETRYABLE: 1}
# SQLSTATE classes and codes (PostgreSQL appendix A).
_TRANSIENT = {"40001", "40P01"}  # serialization failure, deadlock detected
_TIMEOUT = {"57014", "55P03"}  # query canceled (statement_timeout), lock not available
_UNAVAILABLE_CLASSES = ("08", "53", "57P")  # connection exception, resources, shutdown


class DatabaseFault(Exception):
    """A database failure a client may retry; `code` is its stable `extensions.code`."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.retry_after_s = RETRY_AFTER_S.get(code, 1)
        # What a split batch had committed before the fault (its hooks must still run).
        self.stored: list[Any] = []


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        orig = getattr(current, "orig", None)
        current = (
            orig if isinstance(orig, BaseException) else current.__cause__ or current.__context__
        )


def sqlstate(exc: BaseException) -> str | None:
    for link in _chain(exc):
        state = getattr(link, "sqlstate", None) or getattr(link, "pgcode", None)
        if isinstance(state, str) and len(state) == 5:
            return state
    return None


def classify(exc: BaseException) -> str | None:
    """The client-facing code for a database exception, or None when it is not one."""
    if isinstance(exc, DatabaseFault):
        return exc.code
    state = sqlstate(exc)
    if state is not None:
        if state in _TRANSIENT:
            return RETRYABLE
        if state in _TIMEOUT:
            return TIMEOUT
        if state.startswith(_UNAVAILABLE_CLASSES):
            return UNAVAILABLE
        if state.startswith(("22", "23")):
            return REFUSED
    if isinstance(exc, (sa_exc.IntegrityError, sa_exc.DataError)):
        return REFUSED
    if isinstance(exc, sa_exc.TimeoutError):
        return UNAVAILABLE  # no pooled connection within db_pool_timeout_s
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return UNAVAILABLE
    for link in _chain(exc):
        if isinstance(link, (OSError, ConnectionError, asyncio.TimeoutError)):
            return UNAVAILABLE
        name = type(link).__name__
        # asyncpg's connection-level errors carry no SQLSTATE.
        if name in ("ConnectionDoesNotExistError", "InterfaceError", "InternalClientError"):
            return UNAVAILABLE
        if name == "OperationalError" and "locked" in str(link):
            return TIMEOUT  # SQLite: "database is locked" after busy_timeout
    return None


def as_fault(exc: BaseException) -> BaseException:
    """`exc` as a DatabaseFault when it is a retryable one, else `exc` itself (to re-raise)."""
    code = classify(exc)
    if code in MESSAGES and not isinstance(exc, DatabaseFault):
        return DatabaseFault(str(code), MESSAGES[str(code)])
    return exc


def is_transient(code: str | None) -> bool:
    """Worth retrying inside the server: the same statements may well succeed a moment later."""
    return code in (RETRYABLE, UNAVAILABLE)


class LogLimiter:
    """Let at most `burst` log lines through per `window_s`; count the rest and say so once."""

    def __init__(self, burst: int = 5, window_s: float = 10.0) -> None:
        self.burst = burst
        self.window_s = window_s
        self.started = 0.0
        self.count = 0
        self.suppressed = 0

    def allow(self) -> bool:
        now = time.monotonic()
        if now - self.started >= self.window_s:
            if self.suppressed:
                log.warning("%d similar database errors were not logged", self.suppressed)
            self.started, self.count, self.suppressed = now, 0, 0
        self.count += 1
        if self.count <= self.burst:
            return True
        self.suppressed += 1
        return False


MESSAGES = {
    UNAVAILABLE: "the database is unavailable; retry later",
    TIMEOUT: "the database did not answer in time; retry later",
    RETRYABLE: "a transient database conflict; retry the same request",
}
