from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def insitechart(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env["DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_seed_command_reports_what_it_stored_and_a_rerun_adds_nothing(tmp_path: Path) -> None:
    assert insitechart(tmp_path, "migrate").returncode == 0
    options = ["--mentions", "300", "--stocks", "20", "--days", "2", "--batch-size", "64"]

    first = insitechart(tmp_path, "seed", *options)
    again = insitechart(tmp_path, "seed", *options)
    more = insitechart(tmp_path, "seed", *options[2:], "--mentions", "50", "--append")

    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith(
        "seeded 20 stocks (20 new) and 300 new mentions (seed-0..seed-299) in "
    )
    assert "mentions" in first.stderr and "300/300" in first.stderr  # the progress bar
    assert again.stdout.strip() == (
        "seeded 20 stocks (0 new); mentions already up to seed-299, none added"
    )
    assert more.stdout.startswith(
        "seeded 20 stocks (0 new) and 50 new mentions (seed-300..seed-349)"
    )
