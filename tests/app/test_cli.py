"""Every user error of `insitechart` is one line on stderr and an exit code of its own."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import astuple, dataclass
from pathlib import Path

import pytest

from app.cli import build_parser, main, package_version
from app.cli.errors import ExitCode
from app.config import get_settings

UNREACHABLE = "postgresql+asyncpg://app:secret@127.0.0.1:1/insitechart"
NOT_MIGRATED = "the database has no tables; run `insitechart migrate` first"


def insitechart(
    tmp_path: Path, database_url: str | None, *args: str
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(DB_POOL_TIMEOUT_S="2", HOME=str(tmp_path), XDG_DATA_HOME=str(tmp_path / "data"))
    if database_url is not None:
        env["DATABASE_URL"] = database_url
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        cwd=tmp_path,  # no .env of the developer's
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[Callable[..., Run]]:
    """Run `insitechart` in-process, from tmp_path, with a DATABASE_URL of the test's own."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv("DB_POOL_TIMEOUT_S", "2")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))

    def run(database_url: str, *args: str) -> Run:
        monkeypatch.setenv("DATABASE_URL", database_url)
        get_settings.cache_clear()
        capsys.readouterr()
        code = main(list(args))
        out, err = capsys.readouterr()
        return Run(code, out, err)

    yield run
    get_settings.cache_clear()


def one_line(result: subprocess.CompletedProcess[str] | Run) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def sqlite(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"


@pytest.fixture
def jsonl(tmp_path: Path) -> Path:
    path = tmp_path / "in.jsonl"
    path.write_text('{"source": "NEWS", "externalId": "n1", "text": "$AAPL up", '
                    '"publishedAt": "2026-01-01T00:00:00+00:00"}\n')  # fmt: skip
    return path


@pytest.mark.parametrize(
    ("command", "database_url", "code", "expected"),
    [
        ("migrate", "not a url", ExitCode.CONFIG,
         "insitechart: error: invalid configuration: DATABASE_URL: "),
        ("serve", "mysql://db/x", ExitCode.CONFIG, "DATABASE_URL driver 'mysql' is not supported"),
        *(
            (command, UNREACHABLE, ExitCode.UNREACHABLE,
             "insitechart: error: cannot reach the database at "
             "postgresql+asyncpg://app:***@127.0.0.1:1/insitechart: ")
            for command in ("migrate", "seed", "demo", "serve", "apikey list", "ingest in.jsonl")
        ),
    ],
)  # fmt: skip
def test_bad_or_unreachable_database_stops_with_one_line(
    cli: Callable[..., Run],
    tmp_path: Path,
    jsonl: Path,
    command: str,
    database_url: str,
    code: int,
    expected: str,
) -> None:
    result = cli(database_url, *command.split())

    assert result.returncode == code
    assert result.stdout == ""
    assert expected in one_line(result)
    assert "secret" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl"]  # nothing created


@pytest.mark.parametrize(
    "command",
    ["seed", "apikey list", "apikey create --name acme", "apikey revoke 1", "ingest in.jsonl"],
)
def test_commands_on_an_unmigrated_database_say_to_migrate_first(
    cli: Callable[..., Run], tmp_path: Path, jsonl: Path, command: str
) -> None:
    result = cli(sqlite(tmp_path), *command.split())

    assert result.returncode == ExitCode.NOT_MIGRATED
    assert one_line(result) == f"insitechart: error: {NOT_MIGRATED}"


def test_seed_checks_its_options_before_the_database(
    cli: Callable[..., Run], tmp_path: Path
) -> None:
    result = cli(sqlite(tmp_path), "seed", "--days", "0")

    assert result.returncode == ExitCode.USAGE
    assert one_line(result) == "insitechart: error: --days must be between 1 and 365, got 0"


def test_migrate_up_to_an_unknown_revision_is_one_line(tmp_path: Path) -> None:
    # A real process: alembic's own error printing must not leak a traceback.
    result = insitechart(tmp_path, sqlite(tmp_path), "migrate", "up", "nosuchrev")

    assert result.returncode == ExitCode.NOT_FOUND
    line = one_line(result)
    assert line.startswith("insitechart: error: cannot migrate up to nosuchrev: ")
    assert "nosuchrev" in line.split(": ", 3)[-1]


def test_migrate_down_needs_a_revision_and_base_needs_yes(
    cli: Callable[..., Run], tmp_path: Path
) -> None:
    url = sqlite(tmp_path)
    assert cli(url, "migrate").returncode == 0

    bare = cli(url, "migrate", "down")
    assert bare.returncode == ExitCode.USAGE
    assert "`migrate down` needs a revision" in one_line(bare)

    base = cli(url, "migrate", "down", "base")
    assert base.returncode == ExitCode.NEEDS_CONFIRMATION
    assert "add --yes" in one_line(base)

    # Nothing was dropped: a command that needs the tables still works.
    listing = cli(url, "apikey", "list")
    assert listing.returncode == 0, listing.stderr

    confirmed = cli(url, "migrate", "down", "base", "--yes")
    assert confirmed.returncode == 0, confirmed.stderr
    assert "migrated down to base" in confirmed.stdout
    assert cli(url, "apikey", "list").returncode == ExitCode.NOT_MIGRATED


def test_migrated_database_behind_head_says_to_migrate(
    cli: Callable[..., Run], tmp_path: Path
) -> None:
    url = sqlite(tmp_path)
    assert cli(url, "migrate", "up", "0001").returncode == 0

    result = cli(url, "apikey", "list")

    assert result.returncode == ExitCode.NOT_MIGRATED
    assert one_line(result) == (
        "insitechart: error: the database is at revision 0001, not 0004; "
        "run `insitechart migrate` first"
    )


def test_default_database_does_not_depend_on_the_directory(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    migrated = insitechart(tmp_path, None, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    db_file = tmp_path / "data" / "insitechart" / "insitechart.db"
    assert str(db_file) in migrated.stdout
    assert db_file.is_file()

    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(HOME=str(tmp_path), XDG_DATA_HOME=str(tmp_path / "data"))
    listing = subprocess.run(
        [sys.executable, "-m", "app.cli", "apikey", "list"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert listing.returncode == 0, listing.stderr
    assert list(elsewhere.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["serve", "--port", "0"], "argument --port: must be between 1 and 65535, got 0"),
        (["serve", "--port", "99999"], "argument --port: must be between 1 and 65535, got 99999"),
        (["serve", "--port", "http"], "argument --port: 'http' is not a whole number"),
        (["serve", "--workers", "0"], "argument --workers: must be between 1 and 64, got 0"),
        (["demo", "--port", "0"], "argument --port: must be between 1 and 65535, got 0"),
        (["migrate", "sideways"], "argument direction: invalid choice: 'sideways'"),
    ],
)
def test_out_of_range_options_are_refused(
    capsys: pytest.CaptureFixture[str], args: list[str], expected: str
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(args)

    assert stopped.value.code == ExitCode.USAGE
    assert expected in capsys.readouterr().err.strip().splitlines()[-1]


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["--version"])

    assert stopped.value.code == 0
    assert capsys.readouterr().out.strip() == f"insitechart {package_version()}"
    assert package_version() != "unknown"


def _parsers(parser: argparse.ArgumentParser) -> list[tuple[str, argparse.ArgumentParser]]:
    found = [(parser.prog, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                found += _parsers(child)
    return found


def test_every_command_and_option_has_help_with_its_default() -> None:
    missing = []
    for prog, parser in _parsers(build_parser()):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                helped = {c.dest for c in action._choices_actions if c.help}
                missing += [f"{prog} {name}" for name in action.choices if name not in helped]
            elif isinstance(action, argparse._HelpAction | argparse._VersionAction):
                continue
            elif not action.help:
                missing.append(f"{prog} {action.dest}: no help")
            elif action.option_strings and not action.required and "default" not in action.help:
                missing.append(f"{prog} {action.option_strings[0]}: no default in help")
    assert missing == []


def test_apikey_tier_help_shows_its_default(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["apikey", "create", "--help"])

    assert "(default: partner)" in " ".join(capsys.readouterr().out.split())


def test_seed_quiet_prints_only_the_summary(cli: Callable[..., Run], tmp_path: Path) -> None:
    url = sqlite(tmp_path)
    assert cli(url, "migrate").returncode == 0

    code, out, err = astuple(
        cli(url, "seed", "--quiet", "--mentions", "30", "--stocks", "3", "--days", "1")
    )

    assert code == 0
    assert err == ""
    assert out.startswith("seeded 3 stocks (3 new) and 30 new mentions")
    assert len(out.strip().splitlines()) == 1


def test_apikey_revoke_of_an_unknown_key_is_not_found(
    cli: Callable[..., Run], tmp_path: Path
) -> None:
    url = sqlite(tmp_path)
    assert cli(url, "migrate").returncode == 0

    result = cli(url, "apikey", "revoke", "42")

    assert result.returncode == ExitCode.NOT_FOUND
    assert result.stderr == "insitechart: error: no active API key with id 42\n"


def test_exit_codes_are_distinct() -> None:
    assert len({int(c) for c in ExitCode}) == len(ExitCode)


@pytest.mark.parametrize(
    ("level", "access"), [("debug", True), ("info", True), ("warning", False), ("error", False)]
)
def test_serve_writes_access_lines_only_where_its_level_shows_them(
    level: str, access: bool
) -> None:
    import uvicorn

    from app.cli.serve import uvicorn_options
    from app.config import Settings

    args = build_parser().parse_args(["serve", "--port", "8123"])
    settings = Settings(log_level=level, app_env="production")
    config = uvicorn.Config("app.main:create_app", **uvicorn_options(args, settings, 1))
    assert config.access_log is access
    assert (config.port, config.log_level, config.server_header) == (8123, level, False)
