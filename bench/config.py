"""Where the benchmarks run: the bench database, Redis, ports and the reference operations."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from app.config import Settings

PROJECT_ROOT = Path(__file__).resolve().parent.parent
OPERATIONS_DIR = PROJECT_ROOT / "operations"  # the project's own copy of what clients send

# The load generator plays the public frontend's many anonymous visitors from one address, so the
# anonymous budget (2000 points refilling 50/s per client) is raised far out of reach: every
# request is still costed and charged (the Lua script runs on Redis), none is refused. Anonymous,
# the mix is served from the shared response cache as the public frontend's would be.
# With `--as internal` the same goes for the internal tier (100,000 points refilling 2,000/s by
# default, a few hundred requests of the mix per second).
BENCH_BUDGET: dict[str, int | float] = {
    "budget_anonymous_capacity": 100_000_000,
    "budget_anonymous_restore_per_s": 10_000_000.0,
    "budget_internal_capacity": 100_000_000,
    "budget_internal_restore_per_s": 10_000_000.0,
}


def bench_settings(settings: Settings) -> Settings:
    """`settings` with the bench's anonymous budget (see BENCH_BUDGET)."""
    return settings.model_copy(update=BENCH_BUDGET)


def bench_budget_env() -> dict[str, str]:
    """BENCH_BUDGET as the environment of a server process."""
    return {name.upper(): str(value) for name, value in BENCH_BUDGET.items()}


@dataclass(frozen=True, slots=True)
class BenchConfig:
    """Targets of a benchmark run; read from BENCH_* variables by `from_env`, never at import."""

    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/insitechart_bench"
    redis_url: str | None = "redis://127.0.0.1:6379/4"
    host: str = "127.0.0.1"
    port: int = 8400
    naive_port: int = 8401

    @classmethod
    def from_env(cls) -> BenchConfig:
        defaults = cls()
        return cls(
            database_url=os.environ.get("BENCH_DATABASE_URL", defaults.database_url),
            redis_url=os.environ.get("BENCH_REDIS_URL", defaults.redis_url) or None,
            port=int(os.environ.get("BENCH_PORT", defaults.port)),
            naive_port=int(os.environ.get("BENCH_NAIVE_PORT", defaults.naive_port)),
        )

    @property
    def database_name(self) -> str:
        return make_url(self.database_url).database or "insitechart_bench"

    @property
    def server_url(self) -> str:
        """The PostgreSQL server's maintenance database, to create the bench database from."""
        return make_url(self.database_url).set(database="postgres").render_as_string(False)


def read_operations(folder: Path = OPERATIONS_DIR) -> dict[str, str]:
    """The reference operations, verbatim, by name."""
    if not folder.is_dir():
        raise SystemExit(f"bench: the reference operations are missing: {folder}")
    return {p.stem: p.read_text() for p in sorted(folder.glob("*.graphql"))}


@contextmanager
def bench_key(config: BenchConfig, name: str, scopes: tuple[str, ...]) -> Iterator[str]:
    """An `internal` tier API key in the bench database for the length of a run, then revoked:
    what a frontend's server (BFF) or the partner that ingests would hold."""
    from app.apikeys import create_key, revoke_key
    from app.db import create_database

    async def create() -> tuple[str, int]:
        db = create_database(Settings(database_url=config.database_url))
        try:
            token, record = await create_key(db, name, scopes=scopes, tier="internal")
            return token, record.id
        finally:
            await db.dispose()

    async def revoke(key_id: int) -> None:
        db = create_database(Settings(database_url=config.database_url))
        try:
            await revoke_key(db, key_id)
        finally:
            await db.dispose()

    token, key_id = asyncio.run(create())
    try:
        yield token
    finally:
        asyncio.run(revoke(key_id))
