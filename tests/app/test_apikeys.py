from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import event, select

from app.apikeys import (
    InvalidKeyRequest,
    KeyCache,
    authenticate,
    create_key,
    hash_key,
    list_keys,
    revoke_key,
)
from app.db import Database
from app.models import ApiKey
from tests.conftest import graphql


async def test_created_key_is_stored_only_as_its_hash(db: Database) -> None:
    token, record = await create_key(db, "partner one", scopes=["read", "ingest"], tier="partner")
    async with db.sessionmaker() as session:
        row = (await session.execute(select(ApiKey))).scalar_one()
    assert row.key_hash == hash_key(token)
    assert token not in (row.key_hash, row.prefix, row.name, row.scopes)
    assert record.scopes == frozenset({"read", "ingest"})


async def test_authenticate_accepts_active_key_and_refuses_revoked_or_unknown(db: Database) -> None:
    token, record = await create_key(db, "partner two")
    assert (await authenticate(db, token)) == record
    assert await authenticate(db, token + "x") is None
    assert await revoke_key(db, record.id) is True
    assert await revoke_key(db, record.id) is False
    assert await authenticate(db, token) is None
    assert [k.active for k in await list_keys(db)] == [False]


async def test_create_key_rejects_unknown_scope_and_tier(db: Database) -> None:
    with pytest.raises(InvalidKeyRequest, match="scopes"):
        await create_key(db, "bad", scopes=["write"])
    with pytest.raises(InvalidKeyRequest, match="tier"):
        await create_key(db, "bad", tier="gold")


async def test_unknown_key_gets_401_with_no_anonymous_fallback(
    db: Database, client: httpx.AsyncClient
) -> None:
    response = await client.post(
        "/graphql",
        json={"query": '{ stock(symbol: "AAPL") { symbol } }'},
        headers={"Authorization": "Bearer ic_not-a-real-key"},
    )
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert "unknown or revoked" in response.text


async def test_valid_key_reaches_the_schema(db: Database, client: httpx.AsyncClient) -> None:
    token, _ = await create_key(db, "reader")
    body = await graphql(
        client, '{ stock(symbol: "AAPL") { symbol } }', Authorization=f"Bearer {token}"
    )
    assert body["data"] == {"stock": None}
    assert "errors" not in body


@contextmanager
def statements(db: Database) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", record)


async def test_a_key_found_active_is_read_once_within_the_cache_time(db: Database) -> None:
    token, record = await create_key(db, "frequent")
    keys = KeyCache(ttl_s=60)
    with statements(db) as seen:
        assert [await keys.authenticate(db, token) for _ in range(5)] == [record] * 5
    assert len(seen) == 1


async def test_unknown_and_revoked_keys_are_never_remembered(db: Database) -> None:
    token, record = await create_key(db, "gone soon")
    keys = KeyCache(ttl_s=0.05)
    assert await keys.authenticate(db, token) == record
    await revoke_key(db, record.id)
    await asyncio.sleep(0.06)
    with statements(db) as seen:
        assert await keys.authenticate(db, token) is None
        assert await keys.authenticate(db, token) is None
        assert await keys.authenticate(db, "ic_unknown") is None
        assert await keys.authenticate(db, "ic_unknown") is None
    assert len(seen) == 4


async def test_the_cache_holds_at_most_its_size_and_zero_reads_every_time(db: Database) -> None:
    tokens = [(await create_key(db, f"k{i}"))[0] for i in range(3)]
    keys = KeyCache(ttl_s=60, size=2)
    for token in tokens:
        await keys.authenticate(db, token)
    with statements(db) as seen:
        await keys.authenticate(db, tokens[2])
        await keys.authenticate(db, tokens[0])  # the oldest was dropped
    assert len(seen) == 1
    uncached = KeyCache(ttl_s=0)
    with statements(db) as seen:
        await uncached.authenticate(db, tokens[0])
        await uncached.authenticate(db, tokens[0])
    assert len(seen) == 2
