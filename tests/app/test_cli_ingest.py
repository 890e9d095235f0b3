from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from sqlalchemy import func, select

from app import cli
from app.cli.errors import ExitCode
from app.config import Settings, get_settings
from app.db import Database
from app.models import Mention
from tests.factories.stocks import make_stock


@pytest.fixture
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Point the CLI's settings (read from the environment) at the test database."""
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv("INGEST_CLI_BATCH_SIZE", "3")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def line(external_id: str, text: str = "$AAPL strong buy, love it") -> bytes:
    return orjson.dumps(
        {
            "source": "STOCKTWITS",
            "externalId": external_id,
            "text": text,
            "publishedAt": "2026-01-05T09:30:00+00:00",
        }
    )


async def test_cli_ingest_streams_batches_and_reports_bad_lines_by_number(
    db: Database, cli_env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with db.sessionmaker.begin() as session:
        await make_stock(session, "AAPL")
    lines = [
        line("c1"),
        b"{not json",
        line("c2"),
        b"",
        line("c3", text="nothing to attribute"),
        b'{"source": "REDDIT", "externalId": "c4"}',
        line("c1"),
        *(line(f"bulk{i}") for i in range(7)),
        b'{"source": "NEWS", "externalId": "c5", "text": "$AAPL", "publishedAt": "yesterday"}',
    ]
    path = tmp_path / "mentions.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")

    code = await asyncio.to_thread(cli.main, ["ingest", str(path), "--quiet"])

    out, err = capsys.readouterr()
    assert code == 1
    assert out.strip() == "14 lines: 9 accepted, 1 duplicates, 4 rejected"
    problems = err.splitlines()
    assert problems[0].startswith("line 2: BAD_JSON: not valid JSON: ")
    assert problems[1:] == [
        "line 5: NO_SYMBOL: symbol: missing, and the text names no $CASHTAG",
        "line 6: MISSING_FIELD: missing text, publishedAt",
        "line 15: BAD_TIMESTAMP: publishedAt: must be an ISO-8601 date-time",
    ]
    async with db.sessionmaker() as session:
        count = (await session.execute(select(func.count()).select_from(Mention))).scalar_one()
    assert count == 9


async def test_cli_ingest_refuses_a_missing_file(
    cli_env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = await asyncio.to_thread(cli.main, ["ingest", str(tmp_path / "nope.jsonl")])
    assert code == ExitCode.NOT_FOUND
    assert "is not a readable file" in capsys.readouterr().err


async def test_cli_ingest_rejects_a_nul_line_alone_and_stores_the_rest_of_its_batch(
    db: Database, cli_env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with db.sessionmaker.begin() as session:
        await make_stock(session, "AAPL")
    lines = [line("z1"), line("z2", text="$AAPL \x00 zero"), line("z3"), line("z4")]
    path = tmp_path / "nul.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")

    code = await asyncio.to_thread(cli.main, ["ingest", str(path), "--quiet"])

    out, err = capsys.readouterr()
    assert code == 1
    assert out.strip() == "4 lines: 3 accepted, 0 duplicates, 1 rejected"
    assert err.splitlines() == ["line 2: BAD_CHARACTER: text: contains a NUL character"]


async def test_cli_ingest_without_a_database_exits_4_with_one_line_and_no_traceback(
    cli_env: None,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:9/none")
    monkeypatch.setenv("DB_POOL_TIMEOUT_S", "1")
    get_settings.cache_clear()
    path = tmp_path / "m.jsonl"
    path.write_bytes(line("d1") + b"\n")

    code = await asyncio.to_thread(cli.main, ["ingest", str(path), "--quiet"])

    _out, err = capsys.readouterr()
    assert code == ExitCode.UNREACHABLE
    assert "Traceback" not in err
    [message] = err.splitlines()
    assert message.startswith(
        "insitechart: error: cannot reach the database at postgresql+asyncpg://postgres@127.0.0.1:9/none"
    )
