"""Automatic persisted queries (Apollo's protocol), so GET requests can be cached by a CDN."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
import orjson

from app.config import Settings
from app.db import Database
from app.main import create_app
from tests.conftest import serve
from tests.factories.universe import make_universe

QUERY = "query Few($n: Int!) { stocks(first: $n) { nodes { symbol } } }"
HASH = hashlib.sha256(QUERY.encode()).hexdigest()


def persisted(digest: str = HASH) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": digest}}


# GET operations need a non-simple header (CSRF prevention, app/http/limits.py).
PREFLIGHT = {"apollo-require-preflight": "1"}


async def get(client: httpx.AsyncClient, digest: str = HASH) -> httpx.Response:
    params = {
        "variables": orjson.dumps({"n": 2}).decode(),
        "extensions": orjson.dumps(persisted(digest)).decode(),
    }
    return await client.get("/graphql", params=params, headers=PREFLIGHT)


def code(response: httpx.Response) -> str:
    return str(response.json()["errors"][0]["extensions"]["code"])


async def test_apq_registers_a_query_then_serves_it_by_hash_over_get(
    db: Database, cached_settings: Settings
) -> None:
    await make_universe(db, 3, 1)
    async with serve(create_app(cached_settings)) as client:
        unknown = await get(client)
        registered = await client.post(
            "/graphql", json={"query": QUERY, "variables": {"n": 2}, "extensions": persisted()}
        )
        by_hash = await get(client)
        by_hash_post = await client.post(
            "/graphql", json={"variables": {"n": 1}, "extensions": persisted()}
        )
    assert unknown.status_code == 200
    assert code(unknown) == "PERSISTED_QUERY_NOT_FOUND"
    assert unknown.json()["errors"][0]["message"] == "PersistedQueryNotFound"
    expected = {"data": {"stocks": {"nodes": [{"symbol": "S000"}, {"symbol": "S001"}]}}}
    assert registered.json()["data"] == expected["data"]
    assert by_hash.status_code == 200 and by_hash.json()["data"] == expected["data"]
    assert by_hash_post.json()["data"] == {"stocks": {"nodes": [{"symbol": "S000"}]}}


async def test_apq_get_responses_carry_cdn_headers_and_hit_the_response_cache(
    db: Database, cached_settings: Settings
) -> None:
    await make_universe(db, 3, 1)
    settings = Settings(**{**cached_settings.model_dump(), "cache_response_enabled": True})
    async with serve(create_app(settings)) as client:
        await client.post("/graphql", json={"query": QUERY, "extensions": persisted()})
        first, second = await get(client), await get(client)
    assert first.headers["cache-control"] == "public, max-age=600"
    assert (first.headers["x-cache"], second.headers["x-cache"]) == ("MISS", "HIT")
    assert second.json()["data"] == first.json()["data"]


async def test_apq_refuses_a_hash_that_does_not_match_the_query(
    db: Database, cached_settings: Settings
) -> None:
    wrong = hashlib.sha256(b"something else").hexdigest()
    async with serve(create_app(cached_settings)) as client:
        mismatch = await client.post(
            "/graphql", json={"query": QUERY, "extensions": persisted(wrong)}
        )
        after = await get(client, wrong)
    assert mismatch.status_code == 400
    assert code(mismatch) == "PERSISTED_QUERY_HASH_MISMATCH"
    assert code(after) == "PERSISTED_QUERY_NOT_FOUND"  # nothing was registered


async def test_apq_refuses_a_malformed_hash_naming_the_field(
    db: Database, cached_settings: Settings
) -> None:
    async with serve(create_app(cached_settings)) as client:
        response = await get(client, "not-a-hash")
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["extensions"] == {
        "code": "BAD_USER_INPUT",
        "field": "extensions.persistedQuery.sha256Hash",
    }
    assert "64 lower-case hex digits" in error["message"]
