"""Run Alembic migrations from the app, the CLI and the tests over an open async connection."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from alembic import command
from app.db import Database

PROJECT_ROOT = Path(__file__).resolve().parent.parent
RUN_MIGRATE = "run `insitechart migrate` first"


def alembic_config() -> Config:
    cfg = Config(str(PROJECT_ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(PROJECT_ROOT / "alembic"))
    cfg.attributes["configure_logging"] = False
    return cfg


async def upgrade(db: Database, revision: str = "head") -> None:
    def _upgrade(connection: Connection) -> None:
        cfg = alembic_config()
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)

    async with db.engine.begin() as conn:
        await conn.run_sync(_upgrade)


async def downgrade(db: Database, revision: str = "base") -> None:
    def _downgrade(connection: Connection) -> None:
        cfg = alembic_config()
        cfg.attributes["connection"] = connection
        command.downgrade(cfg, revision)

    async with db.engine.begin() as conn:
        await conn.run_sync(_downgrade)


@lru_cache(maxsize=1)
def code_heads() -> frozenset[str]:
    """The head revisions of the migrations shipped with this code."""
    return frozenset(ScriptDirectory.from_config(alembic_config()).get_heads())


def _problem(connection: Connection) -> str | None:
    current = frozenset(MigrationContext.configure(connection).get_current_heads())
    heads = code_heads()
    if current == heads:
        return None
    if not current:
        if not inspect(connection).get_table_names():
            return "the database has no tables"
        return "the database has no migration revision"
    return (
        f"the database is at revision {', '.join(sorted(current))}, not {', '.join(sorted(heads))}"
    )


async def schema_problem(db: Database) -> str | None:
    """Why the database does not match the code's migrations, or None when it is at head."""
    async with db.engine.connect() as conn:
        return await conn.run_sync(_problem)


class MigrationCheck:
    """Ask the database once it is at head; until then, ask on every call (someone may migrate)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._at_head = False

    async def problem(self) -> str | None:
        if self._at_head:
            return None
        problem = await schema_problem(self._db)
        self._at_head = problem is None
        return problem
