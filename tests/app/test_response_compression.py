"""ResponseCompression: the negotiated coding above the threshold, streams flushed part by part,
pre-encoded answers untouched. Over HTTP, in front of small ASGI apps."""

from __future__ import annotations

import asyncio
import gzip
import zlib
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import brotli
import httpx
import pytest
from starlette.types import Receive, Scope, Send

from app.http.response_compression import THREAD_MINIMUM_BYTES, ResponseCompression
from tests.liveserver import live_asgi

JSON = b'{"data":{"stocks":[' + b",".join(b'{"symbol":"S%03d"}' % i for i in range(100)) + b"]}}"
MIN = 500


def answering(
    body: bytes, content_type: bytes = b"application/json", headers: Sequence[Any] = ()
) -> Any:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        raw = [(b"content-type", content_type), (b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": 200, "headers": [*raw, *headers]})
        await send({"type": "http.response.body", "body": body})

    return app


def compressing(app: Any, offered: Sequence[str] = ("br", "gzip")) -> ResponseCompression:
    return ResponseCompression(app, offered, minimum_size=MIN, gzip_level=5, brotli_quality=4)


@asynccontextmanager
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


async def fetch(app: Any, accept: str | None) -> tuple[httpx.Headers, bytes]:
    """The answer's headers and its bytes as sent (not decoded)."""
    async with client(app) as http:
        request = http.build_request("GET", "/")
        del request.headers["accept-encoding"]  # httpx's own
        if accept is not None:
            request.headers["accept-encoding"] = accept
        response = await http.send(request, stream=True)
        raw = b"".join([part async for part in response.aiter_raw()])
        await response.aclose()
        return response.headers, raw


def decoded(coding: str | None, raw: bytes) -> bytes:
    if coding == "br":
        out: bytes = brotli.decompress(raw)
        return out
    if coding == "gzip":
        return gzip.decompress(raw)
    return raw


@pytest.mark.parametrize(
    ("accept", "coding"),
    [
        ("gzip, deflate, br, zstd", "br"),
        ("gzip, deflate", "gzip"),
        ("br;q=0.5, gzip", "gzip"),
        ("gzip;q=0.5, br;q=0.5", "br"),
        ("identity", None),
        ("deflate", None),
        ("br;q=0, gzip;q=0", None),
        ("", None),
        (None, None),
    ],
)
async def test_an_answer_is_sent_in_the_negotiated_coding(
    accept: str | None, coding: str | None
) -> None:
    headers, raw = await fetch(compressing(answering(JSON)), accept)
    assert headers.get("content-encoding") == coding
    assert headers["vary"] == "Accept-Encoding"
    assert int(headers["content-length"]) == len(raw)
    assert decoded(coding, raw) == JSON
    if coding is not None:
        assert len(raw) < len(JSON) // 3


async def test_only_the_codings_offered_are_sent() -> None:
    app = compressing(answering(JSON), offered=("gzip",))
    assert (await fetch(app, "br"))[0].get("content-encoding") is None
    assert (await fetch(app, "br, gzip"))[0]["content-encoding"] == "gzip"


async def test_an_answer_below_the_threshold_is_sent_as_it_is() -> None:
    small = JSON[: MIN - 1]
    for accept in ("br", "gzip", "identity"):
        headers, raw = await fetch(compressing(answering(small)), accept)
        assert raw == small
        assert "content-encoding" not in headers and "vary" not in headers


async def test_an_answer_with_a_content_encoding_passes_untouched() -> None:
    encoded = gzip.compress(JSON)
    app = compressing(answering(encoded, headers=[(b"content-encoding", b"gzip")]))
    for accept in ("br", "gzip", "br, gzip"):
        headers, raw = await fetch(app, accept)
        assert raw == encoded
        assert headers.get_list("content-encoding") == ["gzip"]


async def test_a_large_body_is_compressed_off_the_event_loop_and_still_decodes() -> None:
    large = JSON * (THREAD_MINIMUM_BYTES // len(JSON) + 2)
    for accept, coding in (("br", "br"), ("gzip", "gzip")):
        headers, raw = await fetch(compressing(answering(large)), accept)
        assert headers["content-encoding"] == coding
        assert decoded(coding, raw) == large


def streaming(parts: list[bytes], gates: list[asyncio.Event], content_type: bytes) -> Any:
    """An app that sends `parts` as one streamed body, each after the client saw the one before
    (its gate set): an answer held back by the middleware would never finish."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"content-type", content_type)]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        for i, part in enumerate(parts):
            if i > 0:
                await asyncio.wait_for(gates[i - 1].wait(), 10)
            await send({"type": "http.response.body", "body": part, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    return app


class Decoder:
    def __init__(self, coding: str | None) -> None:
        self.coding = coding
        self.brotli = brotli.Decompressor()
        self.gzip = zlib.decompressobj(16 + zlib.MAX_WBITS)

    def feed(self, data: bytes) -> bytes:
        if self.coding == "br":
            out: bytes = self.brotli.process(data)
            return out
        if self.coding == "gzip":
            return self.gzip.decompress(data)
        return data


@pytest.mark.parametrize(
    ("content_type", "accept", "coding"),
    [
        # Incremental delivery's media type: compressed, each part flushed.
        (b'multipart/mixed; boundary="-"', "br", "br"),
        (b'multipart/mixed; boundary="-"', "gzip", "gzip"),
        (b'multipart/mixed; boundary="-"', "identity", None),
        # Server-sent events are never compressed (as Starlette's GZipMiddleware).
        (b"text/event-stream", "br", None),
        (b"text/event-stream", "gzip", None),
    ],
)
async def test_a_stream_reaches_the_client_part_by_part(
    content_type: bytes, accept: str, coding: str | None
) -> None:
    """Through uvicorn: each part (smaller than the threshold) is decodable by the client
    before the app sends the next one."""
    parts = [b"--\r\n" + b'{"part":%d,"pad":"%s"}' % (i, b"x" * 40) for i in range(4)]
    gates = [asyncio.Event() for _ in parts]
    app = compressing(streaming(parts, gates, content_type))
    seen = b""
    async with (
        live_asgi(app, lifespan="off") as port,
        httpx.AsyncClient() as http,
        http.stream(
            "GET", f"http://127.0.0.1:{port}/", headers={"accept-encoding": accept}
        ) as response,
    ):
        assert response.headers.get("content-encoding") == coding
        assert "content-length" not in response.headers
        decoder = Decoder(coding)
        expected = 0
        async for chunk in response.aiter_raw():
            seen += decoder.feed(chunk)
            while expected < len(parts) and seen == b"".join(parts[: expected + 1]):
                gates[expected].set()
                expected += 1
    assert seen == b"".join(parts)
    assert all(gate.is_set() for gate in gates)
