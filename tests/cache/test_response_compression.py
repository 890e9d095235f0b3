"""Compressed answers: the response cache keeps deflated bytes, and what executes is gzipped too."""

from __future__ import annotations

import httpx
import orjson
import pytest

from app.apikeys import create_key
from app.config import Settings
from app.db import Database
from app.main import create_app
from tests.conftest import serve
from tests.factories.universe import make_universe

BIG = "query { stocks(first: 30) { nodes { symbol name sector } } }"
SMALL = "query { stocks(first: 1) { nodes { symbol } } }"
GZIP = {"accept-encoding": "gzip"}
PLAIN = {"accept-encoding": "identity"}


@pytest.fixture
def response_settings(cached_settings: Settings) -> Settings:
    overrides = {"cache_response_enabled": True, "compress_min_bytes": 512}
    return Settings(**{**cached_settings.model_dump(), **overrides})


async def post(client: httpx.AsyncClient, query: str, headers: dict[str, str]) -> httpx.Response:
    return await client.post("/graphql", json={"query": query}, headers=headers)


def raw_size(response: httpx.Response) -> int:
    return int(response.headers["content-length"])


async def test_misses_and_hits_are_gzipped_for_clients_that_accept_it(
    db: Database, response_settings: Settings
) -> None:
    await make_universe(db, 30, 1)
    async with serve(create_app(response_settings)) as client:
        miss = await post(client, BIG, GZIP)
        hit = await post(client, BIG, GZIP)
        plain = await post(client, BIG, PLAIN)
    assert (miss.headers["x-cache"], hit.headers["x-cache"], plain.headers["x-cache"]) == (
        "MISS",
        "HIT",
        "HIT",
    )
    for response in (miss, hit):
        assert response.headers["content-encoding"] == "gzip"
        assert response.headers["vary"] == "Accept-Encoding"
        assert raw_size(response) < len(response.content) // 2
    assert "content-encoding" not in plain.headers
    assert plain.headers["vary"] == "Accept-Encoding"
    assert raw_size(plain) == len(plain.content)
    bodies = [orjson.loads(r.content) for r in (miss, hit, plain)]
    assert bodies[0]["data"] == bodies[1]["data"] == bodies[2]["data"]
    assert len(bodies[0]["data"]["stocks"]["nodes"]) == 30
    # Each answer carries its caller's own cost, appended to the stored body.
    assert [b["extensions"]["cost"]["actualQueryCost"] for b in bodies[1:]] == [1, 1]
    assert bodies[0]["extensions"]["cost"]["actualQueryCost"] > 1


async def test_a_plain_hit_is_the_bytes_orjson_gives_the_whole_document(
    db: Database, response_settings: Settings
) -> None:
    await make_universe(db, 30, 1)
    async with serve(create_app(response_settings)) as client:
        await post(client, BIG, PLAIN)
        hit = await post(client, BIG, PLAIN)
        zipped = await post(client, BIG, GZIP)
    assert hit.content == orjson.dumps(orjson.loads(hit.content))
    assert zipped.headers["content-encoding"] == "gzip"
    assert orjson.loads(zipped.content)["data"] == orjson.loads(hit.content)["data"]
    assert list(orjson.loads(hit.content)) == ["data", "extensions"]


async def test_small_answers_are_not_compressed(db: Database, response_settings: Settings) -> None:
    await make_universe(db, 2, 1)
    async with serve(create_app(response_settings)) as client:
        miss = await post(client, SMALL, GZIP)
        hit = await post(client, SMALL, GZIP)
    assert hit.headers["x-cache"] == "HIT"
    assert "content-encoding" not in miss.headers and "content-encoding" not in hit.headers


async def test_answers_to_api_keys_are_gzipped_though_never_stored(
    db: Database, response_settings: Settings
) -> None:
    await make_universe(db, 30, 1)
    token, _ = await create_key(db, "partner", scopes=("read",))
    headers = {**GZIP, "authorization": f"Bearer {token}"}
    async with serve(create_app(response_settings)) as client:
        answer = await post(client, BIG, headers)
    assert "x-cache" not in answer.headers
    assert answer.headers["content-encoding"] == "gzip"
    assert len(orjson.loads(answer.content)["data"]["stocks"]["nodes"]) == 30


async def test_compression_can_be_turned_off(db: Database, response_settings: Settings) -> None:
    await make_universe(db, 30, 1)
    settings = Settings(**{**response_settings.model_dump(), "compress_enabled": False})
    async with serve(create_app(settings)) as client:
        miss = await post(client, BIG, GZIP)
        hit = await post(client, BIG, GZIP)
    assert hit.headers["x-cache"] == "HIT"
    assert "content-encoding" not in miss.headers and "content-encoding" not in hit.headers
