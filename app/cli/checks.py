"""What a command checks before it runs: the settings, the database reachable and migrated."""

from __future__ import annotations

import asyncio

from pydantic import ValidationError

from app.cli.errors import CliError, ExitCode
from app.config import Settings, get_settings
from app.db import DatabaseUnavailable, check_database, create_database
from app.migrate import RUN_MIGRATE, schema_problem


def load_settings() -> Settings:
    """Settings from the environment; a bad value is one clear line, not a traceback."""
    try:
        return get_settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in exc.errors()
        )
        raise CliError(f"invalid configuration: {problems}", ExitCode.CONFIG) from None


def ensure_database(settings: Settings) -> None:
    try:
        asyncio.run(check_database(settings))
    except DatabaseUnavailable as exc:
        raise CliError(str(exc), ExitCode.UNREACHABLE) from None


def migration_problem(settings: Settings) -> str | None:
    """Why the (reachable) database is not at the code's revision, or None."""

    async def run() -> str | None:
        db = create_database(settings)
        try:
            return await schema_problem(db)
        finally:
            await db.dispose()

    return asyncio.run(run())


def ensure_migrated(settings: Settings) -> None:
    """Stop with one line unless the database is reachable and migrated to head."""
    ensure_database(settings)
    problem = migration_problem(settings)
    if problem is not None:
        raise CliError(f"{problem}; {RUN_MIGRATE}", ExitCode.NOT_MIGRATED)
