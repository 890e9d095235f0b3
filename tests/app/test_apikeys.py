from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select

from app.apikeys import InvalidKeyRequest, authenticate, create_key, hash_key, list_keys, revoke_key
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
