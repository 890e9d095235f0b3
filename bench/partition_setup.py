"""Targets of `python -m bench partitions`: copies of the bench database, never the database itself.

`<bench>_flat` is an unpartitioned copy, `<bench>_part` the same copy migrated to the partitioned
schema (migration 0003, timed); with --replica, a private primary (initdb on a free port) loaded
with the partitioned copy, and its streaming replica (pg_basebackup). Copies already made are
reused.
"""

from __future__ import annotations

import subprocess
import time

import asyncpg
from sqlalchemy.engine import make_url

from app import migrate
from app.config import Settings
from app.db import create_database
from bench.pgcluster import BIN, Pair


async def _exists(server: str, name: str) -> bool:
    url = make_url(server)
    conn = await asyncpg.connect(host=url.host, port=url.port or 5432, user=url.username,
                                 database="postgres")  # fmt: skip
    try:
        return bool(await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name))
    finally:
        await conn.close()


async def copy_database(server: str, source: str, target: str) -> None:
    """CREATE DATABASE ... TEMPLATE when nobody uses `source`; else pg_dump into pg_restore."""
    url = make_url(server)
    conn = await asyncpg.connect(host=url.host, port=url.port or 5432, user=url.username,
                                 database="postgres")  # fmt: skip
    try:
        try:
            await conn.execute(f'CREATE DATABASE "{target}" TEMPLATE "{source}"')
            return
        except asyncpg.ObjectInUseError:
            await conn.execute(f'CREATE DATABASE "{target}"')
    finally:
        await conn.close()
    where = ["-h", url.host or "127.0.0.1", "-p", str(url.port or 5432), "-U", url.username or ""]
    dump = subprocess.Popen([BIN / "pg_dump", *where, "-Fc", "-Z0", source], stdout=subprocess.PIPE)
    subprocess.run([BIN / "pg_restore", *where, "-d", target], stdin=dump.stdout, check=True)
    if dump.wait() != 0:
        raise RuntimeError(f"pg_dump of {source} failed")


async def prepare(bench_url: str) -> tuple[str, str, float | None]:
    """The flat and partitioned copies' URLs, and the migration's seconds (None if reused)."""
    url = make_url(bench_url)
    name = url.database or "insitechart_bench"
    flat, part = f"{name}_flat", f"{name}_part"
    server = url.set(database="postgres").render_as_string(hide_password=False)
    if not await _exists(server, flat):
        await copy_database(server, name, flat)
    migrate_s = None
    if not await _exists(server, part):
        await copy_database(server, flat, part)
        db = create_database(Settings(database_url=str(url.set(database=part).render_as_string(
            hide_password=False)), statement_timeout_ms=0))  # fmt: skip
        started = time.perf_counter()
        try:
            await migrate.upgrade(db)
        finally:
            await db.dispose()
        migrate_s = round(time.perf_counter() - started, 1)
    render = url.set(drivername="postgresql+asyncpg")
    return (
        render.set(database=flat).render_as_string(hide_password=False),
        render.set(database=part).render_as_string(hide_password=False),
        migrate_s,
    )


def replica_pair(source_url: str) -> Pair:
    """A private primary holding a copy of `source_url`'s database, and its streaming replica."""
    url = make_url(source_url)
    pair = Pair.build()
    where = ["-h", url.host or "127.0.0.1", "-p", str(url.port or 5432), "-U", url.username or ""]
    dump = subprocess.Popen(
        [BIN / "pg_dump", *where, "-Fc", "-Z0", url.database or ""], stdout=subprocess.PIPE
    )
    into = ["-h", "127.0.0.1", "-p", str(pair.primary.port), "-U", "postgres"]
    subprocess.run([BIN / "pg_restore", *into, "-d", "insitechart"], stdin=dump.stdout, check=True)
    if dump.wait() != 0:
        raise RuntimeError(f"pg_dump of {url.database} failed")
    subprocess.run([BIN / "psql", *into, "-d", "insitechart", "-qc", "VACUUM ANALYZE"], check=True)
    pair.clone()
    return pair
