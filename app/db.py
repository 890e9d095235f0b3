"""Engine and session factory for PostgreSQL (asyncpg) or the embedded SQLite file (aiosqlite)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event, exc, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from app.config import Settings, default_database_url, default_sqlite_path


class DatabaseUnavailable(RuntimeError):
    """The database cannot be reached; the message is one line, fit for an operator."""


@dataclass(frozen=True, slots=True)
class Database:
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    # The same pool, in autocommit: a read of one statement needs no BEGIN/ROLLBACK round trips.
    reader: AsyncEngine

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def read(self) -> AsyncConnection:
        """A pooled connection for one read-only statement (SQLAlchemy Core), no transaction."""
        return self.reader.connect()

    async def ping(self, timeout_s: float = 2.0) -> None:
        async def _ping() -> None:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))

        await asyncio.wait_for(_ping(), timeout_s)

    async def dispose(self) -> None:
        await self.engine.dispose()


def statement_timeout_ms(settings: Settings) -> int:
    """STATEMENT_TIMEOUT_MS, never beyond the execution timeout (0 means that timeout alone).

    The execution timeout answers 504 but cannot stop SQL that a loader's own task awaits; the
    server-side timeout does, so no statement outlives the request and its connection comes back.
    """
    execution_ms = int(settings.limits_execution_timeout_s * 1000)
    if settings.statement_timeout_ms == 0:
        return execution_ms
    return min(settings.statement_timeout_ms, execution_ms)


def create_database(settings: Settings) -> Database:
    url = make_url(settings.database_url)
    if settings.database_url == default_database_url():
        default_sqlite_path().parent.mkdir(parents=True, exist_ok=True)
    # hide_parameters: SQLAlchemy's error messages otherwise carry every bound value (a whole
    # ingest batch of client text) into logs and tracebacks.
    kwargs: dict[str, Any] = {"hide_parameters": True}
    postgresql = url.get_backend_name() == "postgresql"
    if not postgresql:
        kwargs["pool_pre_ping"] = settings.db_pool_pre_ping
    if postgresql:
        kwargs.update(
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            pool_timeout=settings.db_pool_timeout_s,
            connect_args={
                **_ssl_args(url),
                "timeout": settings.db_pool_timeout_s,
                # A server that stops answering (frozen, partitioned) cannot enforce its own
                # statement_timeout: the client gives up a second after it would have.
                "command_timeout": statement_timeout_ms(settings) / 1000 + 1.0,
                "server_settings": {
                    "statement_timeout": str(statement_timeout_ms(settings)),
                    "application_name": "insitechart",
                    "timezone": "UTC",
                },
            },
        )
    else:
        kwargs.update(connect_args={"timeout": settings.db_pool_timeout_s})
    engine = create_async_engine(url, **kwargs)
    if postgresql and settings.db_pool_pre_ping:
        _check_on_checkout(engine, settings.db_pool_ping_idle_s)
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine, settings)
    reader = engine.execution_options(isolation_level="AUTOCOMMIT")
    return Database(engine, async_sessionmaker(engine, expire_on_commit=False), reader)


LOOPBACK_HOSTS = frozenset({None, "", "localhost", "127.0.0.1", "::1"})
SSL_PARAMETERS = frozenset({"ssl", "sslmode"})


def _ssl_args(url: URL) -> dict[str, Any]:
    """`ssl=False` for a loopback server when the URL does not ask for SSL: asyncpg's default
    ("prefer") spends a round trip per new connection asking a local server for TLS."""
    if SSL_PARAMETERS & set(url.query) or url.host not in LOOPBACK_HOSTS:
        return {}
    return {"ssl": False}


def _check_on_checkout(engine: AsyncEngine, ping_idle_s: float) -> None:
    """Hand out no connection the server dropped, at no round trip for one in steady use.

    SQLAlchemy's own pre-ping costs three round trips per checkout on asyncpg (BEGIN, the ping,
    ROLLBACK: its ping opens a transaction for pgbouncer), and a request checks a connection out
    once per loader batch. A restarting server closes its connections, which asyncpg notices
    without asking (`is_closed()`); only a connection idle for `ping_idle_s` (which a firewall
    or a server's idle timeout may have cut silently) is pinged. A dropped connection is
    discarded and the pool checks out another (`DisconnectionError`), so the pool heals by itself.
    """
    pool = engine.sync_engine.pool

    @event.listens_for(pool, "checkin")
    def _on_checkin(_dbapi_conn: Any, record: Any) -> None:
        if record is not None:
            record.info["idle_since"] = time.monotonic()

    @event.listens_for(pool, "checkout")
    def _on_checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        if dbapi_conn._connection.is_closed():
            raise exc.DisconnectionError("the server closed this pooled connection")
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < ping_idle_s:
            return
        try:
            dbapi_conn.ping()
        except Exception as error:  # any failure of the ping: another connection is asked for
            raise exc.DisconnectionError(f"pooled connection failed its ping: {error}") from error


def _configure_sqlite(engine: AsyncEngine, settings: Settings) -> None:
    busy_ms = max(int(settings.db_pool_timeout_s * 1000), 1)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        cursor = dbapi_conn.cursor()
        # WAL lets readers run beside the single writer; foreign keys are off by default.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
        cursor.close()


async def check_database(settings: Settings) -> None:
    """Raise DatabaseUnavailable with one clear line when the database cannot be reached."""
    db = create_database(settings)
    try:
        await db.ping(timeout_s=max(settings.db_pool_timeout_s, 1.0))
    except TimeoutError:
        raise DatabaseUnavailable(
            f"cannot reach the database at {settings.database_url_safe}: timed out"
        ) from None
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DatabaseUnavailable(
            f"cannot reach the database at {settings.database_url_safe}: {reason}"
        ) from None
    finally:
        await db.dispose()
