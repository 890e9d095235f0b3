"""A bad DATABASE_URL stops every command with one clear line, not a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

UNREACHABLE = "postgresql+asyncpg://app:secret@127.0.0.1:1/insitechart"


def insitechart(tmp_path: Path, database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(DATABASE_URL=database_url, DB_POOL_TIMEOUT_S="2")
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        cwd=tmp_path,  # no .env of the developer's
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("command", "database_url", "expected"),
    [
        ("migrate", "not a url", "insitechart: error: invalid configuration: DATABASE_URL: "),
        ("serve", "mysql://db/x", "DATABASE_URL driver 'mysql' is not supported"),
        *(
            (
                command,
                UNREACHABLE,
                "insitechart: error: cannot reach the database at "
                "postgresql+asyncpg://app:***@127.0.0.1:1/insitechart: ",
            )
            for command in ("migrate", "seed", "demo")
        ),
    ],
)
def test_bad_database_url_stops_with_one_line(
    tmp_path: Path, command: str, database_url: str, expected: str
) -> None:
    result = insitechart(tmp_path, database_url, command)

    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert expected in lines[0]
    assert "secret" not in result.stderr
    assert not list(tmp_path.iterdir())  # nothing was created on the way


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--days", "0"], "insitechart: error: --days must be between 1 and 365, got 0"),
        ([], "insitechart: error: the database has no tables; run `insitechart migrate` first"),
    ],
)
def test_seed_refuses_bad_options_or_an_unmigrated_database_in_one_line(
    tmp_path: Path, args: list[str], expected: str
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"

    result = insitechart(tmp_path, url, "seed", *args)

    assert result.returncode == 2
    assert result.stderr.strip() == expected
