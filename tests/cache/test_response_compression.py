"""Compressed answers: the response cache keeps its entries' heads compressed once, in gzip and
brotli, and a hit only appends its tail; what executes is compressed too."""

from __future__ import annotations

import asyncio
import gzip
import shutil
import subprocess
from collections.abc import Sequence
from typing import Any

import brotli
import httpx
import orjson
import pytest
from fastapi import FastAPI

from app.apikeys import create_key
from app.config import Settings
from app.db import Database
from app.http.entry import decode
from app.main import create_app
from tests.cache.conftest import caught_up
from tests.conftest import serve
from tests.factories.universe import make_universe
from tests.liveserver import live_server

BIG = "query { stocks(first: 30) { nodes { symbol name sector } } }"
SMALL = "query { stocks(first: 1) { nodes { symbol } } }"
GZIP = {"accept-encoding": "gzip"}
BROTLI = {"accept-encoding": "br"}
BROWSER = {"accept-encoding": "gzip, deflate, br, zstd"}
PLAIN = {"accept-encoding": "identity"}


@pytest.fixture
def response_settings(cached_settings: Settings) -> Settings:
    overrides = {
        "cache_response_enabled": True,
        "compress_min_bytes": 512,
        # A bucket refilled between any two requests: every hit's cost (its tail) is the same
        # bytes, so answers to different clients can be compared whole.
        "budget_anonymous_restore_per_s": 1e12,
    }
    return Settings(**{**cached_settings.model_dump(), **overrides})


async def post(client: httpx.AsyncClient, query: str, headers: dict[str, str]) -> httpx.Response:
    return await client.post("/graphql", json={"query": query}, headers=headers)


async def sent(client: httpx.AsyncClient, query: str, accept: str) -> tuple[httpx.Headers, bytes]:
    """An answer's headers and its bytes as sent, not decoded."""
    request = client.build_request("POST", "/graphql", json={"query": query})
    request.headers["accept-encoding"] = accept
    response = await client.send(request, stream=True)
    raw = b"".join([part async for part in response.aiter_raw()])
    await response.aclose()
    return response.headers, raw


def decoded(headers: httpx.Headers, raw: bytes) -> bytes:
    assert int(headers["content-length"]) == len(raw)
    coding = headers.get("content-encoding")
    if coding == "br":
        decoder = brotli.Decompressor()
        out: bytes = decoder.process(raw)
        while part := decoder.process(b""):
            out += part
        assert decoder.is_finished() and brotli.decompress(raw) == out
        return out
    if coding == "gzip":
        return gzip.decompress(raw)
    assert coding is None
    return raw


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


async def test_misses_and_hits_are_sent_in_brotli_to_clients_that_take_it(
    db: Database, response_settings: Settings
) -> None:
    await make_universe(db, 30, 1)
    async with serve(create_app(response_settings)) as client:
        miss = await sent(client, BIG, BROWSER["accept-encoding"])
        hit = await sent(client, BIG, BROWSER["accept-encoding"])
        plain = await sent(client, BIG, "identity")
        zipped = await sent(client, BIG, "gzip")
    assert [h["x-cache"] for h, _ in (miss, hit, plain, zipped)] == ["MISS", "HIT", "HIT", "HIT"]
    assert [h.get("content-encoding") for h, _ in (miss, hit, plain, zipped)] == [
        "br",
        "br",
        None,
        "gzip",
    ]
    assert all(h["vary"] == "Accept-Encoding" for h, _ in (miss, hit, plain, zipped))
    # Every hit decodes to the same bytes as the plain hit, its cost included.
    assert decoded(*hit) == decoded(*zipped) == plain[1]
    assert orjson.loads(plain[1])["extensions"]["cost"]["actualQueryCost"] == 1
    assert plain[1] == orjson.dumps(orjson.loads(plain[1]))
    # The miss is the stored body with its own (execution's) cost.
    stored_head = plain[1][: plain[1].index(b',"extensions":')]
    answer = decoded(*miss)
    assert answer.startswith(stored_head + b',"extensions":{"cost":')
    assert orjson.loads(answer)["extensions"]["cost"]["actualQueryCost"] > 1
    assert len(hit[1]) < len(zipped[1]) < len(plain[1]) // 3


@pytest.mark.parametrize(
    ("accept", "coding"),
    [
        ("br", "br"),
        ("gzip", "gzip"),
        ("br;q=0.5, gzip", "gzip"),
        ("gzip;q=0.5, br;q=0.5", "br"),
        ("gzip, br;q=0", "gzip"),
        ("*", "br"),
        ("*;q=0.1, br;q=0", "gzip"),
        ("identity", None),
        ("br;q=0, gzip;q=0", None),
        ("deflate", None),
        ("", None),
    ],
)
async def test_a_hit_is_sent_in_the_coding_its_client_weighs_highest(
    db: Database, response_settings: Settings, accept: str, coding: str | None
) -> None:
    await make_universe(db, 30, 1)
    async with serve(create_app(response_settings)) as client:
        await post(client, BIG, PLAIN)
        plain = await sent(client, BIG, "identity")
        headers, raw = await sent(client, BIG, accept)
    assert headers["x-cache"] == "HIT"
    assert headers.get("content-encoding") == coding
    assert headers.get_list("vary") == ["Accept-Encoding"]
    assert decoded(headers, raw) == plain[1]


async def test_small_answers_are_not_compressed_in_brotli_either(
    db: Database, response_settings: Settings
) -> None:
    await make_universe(db, 2, 1)
    async with serve(create_app(response_settings)) as client:
        miss = await sent(client, SMALL, "br, gzip")
        hit = await sent(client, SMALL, "br, gzip")
    assert hit[0]["x-cache"] == "HIT"
    for headers, raw in (miss, hit):
        assert "content-encoding" not in headers and "vary" not in headers
        assert orjson.loads(raw)["data"]["stocks"]["nodes"]


async def test_answers_to_api_keys_are_sent_in_brotli_though_never_stored(
    db: Database, response_settings: Settings
) -> None:
    await make_universe(db, 30, 1)
    token, _ = await create_key(db, "partner", scopes=("read",))
    async with serve(create_app(response_settings)) as client:
        request = client.build_request("POST", "/graphql", json={"query": BIG})
        request.headers.update({**BROWSER, "authorization": f"Bearer {token}"})
        response = await client.send(request, stream=True)
        raw = b"".join([part async for part in response.aiter_raw()])
    assert "x-cache" not in response.headers
    assert response.headers["content-encoding"] == "br"
    body = orjson.loads(decoded(response.headers, raw))
    assert len(body["data"]["stocks"]["nodes"]) == 30


class Writes:
    """The entries the response cache writes (the backend's set_many, observed)."""

    def __init__(self, app: FastAPI) -> None:
        self.backend = app.state.resources.cache.backend
        self.items: list[tuple[str, bytes, float]] = []
        set_many = self.backend.set_many

        async def observed(items: Sequence[tuple[str, bytes, float]], **kwargs: Any) -> None:
            self.items += [item for item in items if ":resp:" in item[0]]
            await set_many(items, **kwargs)

        self.backend.set_many = observed


def written_before_brotli(raw: bytes) -> bytes:
    """The entry as the code before brotli wrote it: seven fields, the body, the deflated head."""
    entry = decode(raw)
    assert entry is not None
    tags, expires, etag, requested, operation, body, deflated, _ = entry
    crc, size = (deflated.crc, deflated.size) if deflated else (None, 0)
    head = [tags, expires, etag, requested, operation, crc, size]
    return orjson.dumps(head) + b"\n" + body + (deflated.data if deflated else b"")


async def test_an_entry_holds_the_body_and_its_head_in_gzip_and_brotli(
    db: Database, response_settings: Settings
) -> None:
    await make_universe(db, 30, 1)
    app = create_app(response_settings)
    async with serve(app) as client:
        writes = Writes(app)
        await post(client, BIG, PLAIN)
        plain = await sent(client, BIG, "identity")
    [(_, raw, _)] = writes.items
    entry = decode(raw)
    assert entry is not None
    body, deflated, head = entry[5:]
    assert deflated is not None and head is not None
    assert plain[1].startswith(body[:-1])
    assert brotli.decompress(head + b"\x03") == body[:-1]  # flushed, byte-aligned
    assert raw.endswith(body + deflated.data + head)
    assert orjson.loads(raw[: raw.index(b"\n")])[5:] == [deflated.crc, len(body) - 1, len(head)]


async def test_entries_stored_before_brotli_are_still_served(
    db: Database, response_settings: Settings
) -> None:
    await make_universe(db, 30, 1)
    app = create_app(response_settings)
    async with serve(app) as client:
        writes = Writes(app)
        await post(client, BIG, PLAIN)
        plain = await sent(client, BIG, "identity")
        [(key, raw, ttl)] = writes.items
        old = written_before_brotli(raw)
        await writes.backend.set_many([(key, old, ttl)])
        await caught_up(app)  # Redis has told the worker: the copy it kept is dropped
        answers = {accept: await sent(client, BIG, accept) for accept in ("br", "br, gzip", "gzip")}
        again = await sent(client, BIG, "identity")
        (stored,) = await writes.backend.get_many([key])
    assert stored == old  # served from, not rewritten
    assert [h["x-cache"] for h, _ in [*answers.values(), again]] == ["HIT"] * 4
    # gzip from the stored head where the client takes it; brotli only for a client that takes
    # nothing else (compressed outside, from the plain hit); every answer the same bytes.
    codings = {accept: headers.get("content-encoding") for accept, (headers, _) in answers.items()}
    assert codings == {"br": "br", "br, gzip": "gzip", "gzip": "gzip"}
    assert all(decoded(*answer) == plain[1] for answer in [*answers.values(), again])


async def test_without_brotli_offered_no_brotli_head_is_stored(
    db: Database, response_settings: Settings
) -> None:
    await make_universe(db, 30, 1)
    settings = Settings(**{**response_settings.model_dump(), "compress_encodings": ["gzip"]})
    app = create_app(settings)
    async with serve(app) as client:
        writes = Writes(app)
        miss = await sent(client, BIG, "br, gzip")
        hit = await sent(client, BIG, "br")
    [(_, raw, _)] = writes.items
    entry = decode(raw)
    assert entry is not None and entry[6] is not None and entry[7] is None
    assert miss[0]["content-encoding"] == "gzip"
    assert "content-encoding" not in hit[0]  # br not offered, gzip not accepted
    assert orjson.loads(hit[1])["data"] == orjson.loads(decoded(*miss))["data"]


def curl_with_brotli() -> str | None:
    curl = shutil.which("curl")
    if curl is None:
        return None
    features = subprocess.run([curl, "--version"], capture_output=True, text=True).stdout
    return curl if "brotli" in features.lower() else None


async def test_curl_decodes_brotli_hits_from_a_live_server(
    db: Database, response_settings: Settings
) -> None:
    """Another decoder than the encoder's own: curl's libbrotli, over a real socket."""
    curl = curl_with_brotli()
    if curl is None:
        pytest.skip("curl with brotli is not installed")
    await make_universe(db, 30, 1)
    body = orjson.dumps({"query": BIG})
    async with live_server(response_settings) as server:
        url = f"{server.http_url}/graphql"
        async with httpx.AsyncClient() as client:
            await client.post(url, content=body, headers={"content-type": "application/json"})
            plain = await client.post(
                url, content=body, headers={**PLAIN, "content-type": "application/json"}
            )
        command = [
            curl, "--silent", "--show-error", "--fail", "--compressed", "--dump-header", "-",
            "-H", "content-type: application/json", "--data-binary", body.decode(), url,
        ]  # fmt: skip
        for accept in ("br", "gzip", "br, gzip"):
            run = await asyncio.create_subprocess_exec(
                *command, "-H", f"accept-encoding: {accept}", stdout=subprocess.PIPE
            )
            out, _ = await run.communicate()
            assert run.returncode == 0
            head, _, answer = out.partition(b"\r\n\r\n")
            assert b"x-cache: HIT" in head
            coding = "br" if "br" in accept else "gzip"
            assert f"content-encoding: {coding}".encode() in head
            assert answer == plain.content
