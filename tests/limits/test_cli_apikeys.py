"""`insitechart apikey create|list|revoke` through `app.cli.main`, and what a revoked key gets."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterator

import httpx
import pytest

from app.apikeys import authenticate, hash_key
from app.cli import main
from app.cli.errors import ExitCode
from app.config import Settings, get_settings
from app.db import Database
from tests.conftest import graphql

KEY = re.compile(r"^key: (ic_\S+)$", re.MULTILINE)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # A key found active is trusted for API_KEY_CACHE_S: short here, so the revocation shows.
    return settings.model_copy(update={"api_key_cache_s": 0.5})


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, database_url: str) -> Iterator[None]:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.delenv("REDIS_URL", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


async def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = await asyncio.to_thread(main, list(argv))
    out, err = capsys.readouterr()
    return code, out, err


async def test_create_shows_the_key_once_and_stores_only_its_hash(
    cli_env: None, db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = await cli(
        capsys, "apikey", "create", "--name", "acme", "--scope", "read", "--scope", "ingest"
    )
    assert code == 0
    match = KEY.search(out)
    assert match is not None, out
    token = match.group(1)
    key = await authenticate(db, token)
    assert key is not None
    assert (key.name, key.scopes, key.tier) == ("acme", frozenset({"read", "ingest"}), "partner")

    code, listing, _ = await cli(capsys, "apikey", "list")
    assert code == 0
    assert "acme" in listing and "read,ingest" in listing and "active" in listing
    assert token not in listing and hash_key(token) not in listing
    assert key.prefix in listing


async def test_create_refuses_an_unknown_scope(
    cli_env: None, db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        await cli(capsys, "apikey", "create", "--name", "x", "--scope", "root")
    assert exit_info.value.code == 2
    assert "invalid choice: 'root'" in capsys.readouterr().err


async def test_a_revoked_key_is_refused_with_401(
    cli_env: None,
    db: Database,
    client: httpx.AsyncClient,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    _, out, _ = await cli(capsys, "apikey", "create", "--name", "gone", "--tier", "free")
    match = KEY.search(out)
    assert match is not None
    token = match.group(1)
    key_id = re.search(r"created key (\d+)", out)
    assert key_id is not None
    body = await graphql(client, "{ __typename }", Authorization=f"Bearer {token}")
    assert body["data"] == {"__typename": "Query"}
    assert body["extensions"]["cost"]["throttleStatus"]["maximumAvailable"] == (
        get_settings().budget_free_capacity
    )

    code, out, _ = await cli(capsys, "apikey", "revoke", key_id.group(1))
    assert (code, out.strip()) == (0, f"revoked key {key_id.group(1)}")
    await asyncio.sleep(0.5)  # API_KEY_CACHE_S of this module's settings
    response = await client.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    code, _, err = await cli(capsys, "apikey", "revoke", key_id.group(1))
    assert code == ExitCode.NOT_FOUND and "no active API key" in err
    _, listing, _ = await cli(capsys, "apikey", "list")
    assert "revoked" in listing
    assert token not in caplog.text
