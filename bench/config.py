"""Where the benchmarks run: the bench database, Redis, ports and the reference operations."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

PROJECT_ROOT = Path(__file__).resolve().parent.parent
OPERATIONS_DIR = PROJECT_ROOT.parent / "shared" / "operations"


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
