"""Run Alembic migrations from the app, the CLI and the tests over an open async connection."""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config
from sqlalchemy.engine import Connection

from alembic import command
from app.db import Database

PROJECT_ROOT = Path(__file__).resolve().parent.parent


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
