"""Engine and session factory for PostgreSQL (asyncpg) or the embedded SQLite file (aiosqlite)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, Protocol, cast

import asyncpg
from sqlalchemy import ClauseElement, Executable, event, exc, text
from sqlalchemy.engine import URL, Engine, make_url
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


class LeanRecord(asyncpg.Record):  # type: ignore[misc]  # asyncpg ships no types
    """asyncpg's row with attribute access (`row.id`), as SQLAlchemy's Row has it.

    Here a column's read is a failed attribute lookup (an AttributeError made and caught) and
    then a lookup by name; rows of a statement already run come as its `columns_class`, where
    each column is a property.
    """

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def columns_class(names: Sequence[str]) -> type[LeanRecord]:
    """A row class for a statement whose columns are `names`: each column a property reading its
    position (one call of C code, `itemgetter`), about a fifth of LeanRecord's lookup. Names that
    are Record's own (`keys`, `get`, ...), or that appear twice, stay as LeanRecord reads them."""
    counts = Counter(names)
    columns = {
        name: property(itemgetter(position))
        for position, name in enumerate(names)
        if counts[name] == 1 and name.isidentifier() and not hasattr(LeanRecord, name)
    }
    return type("LeanColumns", (LeanRecord,), {"__slots__": (), **columns})


class ReadWatcher(Protocol):
    """Sees each statement of the lean read path (`Database.fetch`), as engine events see the
    statements SQLAlchemy runs: the SQL monitor (timings, slow log, spans) is one."""

    def read_started(
        self, db: Database, connection: Any, statement: str, parameters: Sequence[Any]
    ) -> Any: ...

    def read_ended(self, started: Any, statement: str, parameters: Sequence[Any]) -> None: ...

    def read_failed(self, started: Any) -> None: ...


# Watchers of every lean read of the process, as SQLAlchemy's Engine-class events see every
# statement: the statement counters of tests and benchmarks watch both (`watch_statements`).
READ_WATCHERS: list[ReadWatcher] = []

StatementSeen = Callable[[Engine, str, Any], None]


class _Seen:
    def __init__(self, record: StatementSeen) -> None:
        self.record = record

    def before(self, conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        self.record(conn.engine, statement, parameters)

    def read_started(
        self, db: Database, _connection: Any, statement: str, parameters: Sequence[Any]
    ) -> None:
        self.record(db.engine.sync_engine, statement, parameters)

    def read_ended(self, _started: Any, _statement: str, _parameters: Sequence[Any]) -> None:
        pass

    def read_failed(self, _started: Any) -> None:
        pass


@contextmanager
def watch_statements(record: StatementSeen) -> Iterator[None]:
    """Call `record(engine, statement, parameters)` before every statement any engine of the
    process runs, through SQLAlchemy or the lean read path: what tests and benchmarks count."""
    seen = _Seen(record)
    event.listen(Engine, "before_cursor_execute", seen.before)
    READ_WATCHERS.append(seen)
    try:
        yield
    finally:
        READ_WATCHERS.remove(seen)
        event.remove(Engine, "before_cursor_execute", seen.before)


LEAN_STATEMENTS = 256  # statements compiled for the driver, per database


@dataclass(slots=True, eq=False)
class LeanStatement:
    """A read statement compiled once for asyncpg: its text and its parameters' order, and once
    it has returned rows, the class its rows come as (see `columns_class`)."""

    sql: str
    names: tuple[str, ...]
    defaults: Mapping[str, Any]
    record_class: type[LeanRecord] = LeanRecord

    def arguments(self, params: Mapping[str, Any]) -> tuple[Any, ...]:
        """The driver's positional parameters (a tuple, as SQLAlchemy hands them to events)."""
        return tuple(params[n] if n in params else self.defaults[n] for n in self.names)


@dataclass(frozen=True, slots=True)
class Database:
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    # The same pool, in autocommit: a read of one statement needs no BEGIN/ROLLBACK round trips.
    reader: AsyncEngine
    watchers: list[ReadWatcher] = field(default_factory=list)
    # Statements of `fetch` compiled for the driver, by statement (built once per shape by the
    # loaders), at most LEAN_STATEMENTS of them.
    _lean: dict[Executable, LeanStatement] = field(default_factory=dict)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def read(self) -> AsyncConnection:
        """A pooled connection for one read-only statement (SQLAlchemy Core), no transaction."""
        return self.reader.connect()

    async def fetch(self, statement: Executable, params: Mapping[str, Any]) -> Sequence[Any]:
        """The rows of one read statement built once (per shape, by the loader, with named
        parameters), each with attribute access to its columns.

        On PostgreSQL the statement is compiled once and run on asyncpg directly, on a pooled
        connection without a transaction: SQLAlchemy's execution layer (execution context,
        result metadata, type processing) costs about three times the driver's own work per
        statement, and a request runs one per loader batch. Values go to the driver as given
        (lists for arrays, aware datetimes), and come back as the driver makes them. Elsewhere
        (SQLite) the statement runs through SQLAlchemy.
        """
        if self.dialect != "postgresql":
            async with self.read() as conn:
                return (await conn.execute(statement, dict(params))).all()
        lean = self._lean.get(statement)
        if lean is None:
            lean = self._lean[statement] = _compile_lean(statement, self.engine)
            if len(self._lean) > LEAN_STATEMENTS:  # the oldest out (loaders keep theirs anyway)
                del self._lean[next(iter(self._lean))]
        arguments = lean.arguments(params)
        raw = await self.reader.raw_connection()
        driver: Any = raw.driver_connection
        watchers = (*READ_WATCHERS, *self.watchers) if READ_WATCHERS else self.watchers
        started = [w.read_started(self, driver, lean.sql, arguments) for w in watchers]
        try:
            rows: list[Any] = await driver.fetch(
                lean.sql, *arguments, record_class=lean.record_class
            )
        except BaseException:
            for watcher, token in zip(watchers, started, strict=True):
                watcher.read_failed(token)
            # A failed or cancelled statement may leave the connection mid-exchange.
            raw.invalidate()
            raise
        raw.close()
        for watcher, token in zip(watchers, started, strict=True):
            watcher.read_ended(token, lean.sql, arguments)
        if rows and lean.record_class is LeanRecord:
            lean.record_class = columns_class(tuple(rows[0].keys()))
        return rows

    async def ping(self, timeout_s: float = 2.0) -> None:
        async def _ping() -> None:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))

        await asyncio.wait_for(_ping(), timeout_s)

    async def dispose(self) -> None:
        await self.engine.dispose()


def _compile_lean(statement: Executable, engine: AsyncEngine) -> LeanStatement:
    compiled = cast(ClauseElement, statement).compile(dialect=engine.dialect)
    if not getattr(compiled, "positional", False):
        raise ValueError(f"{engine.dialect.name} does not take positional parameters")
    names = tuple(getattr(compiled, "positiontup", None) or ())  # SQLCompiler's
    if "POSTCOMPILE" in compiled.string:
        raise ValueError("a lean read takes arrays (= ANY), not expanding IN parameters")
    return LeanStatement(compiled.string, names, dict(compiled.params))


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
    if postgresql:  # the pool check is `_check_on_checkout`'s, below
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
        kwargs.update(
            pool_pre_ping=settings.db_pool_pre_ping,
            connect_args={"timeout": settings.db_pool_timeout_s},
        )
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
