"""Brotli or gzip for what the response cache did not compress itself: executions it did not store,
answers to API keys, errors, `/metrics`.

The coding is negotiated from Accept-Encoding's q-values among COMPRESS_ENCODINGS
(app/http/negotiation.py), the same choice the response cache makes for its hits. The rest is
Starlette's GZipMiddleware behaviour, kept by using its responders (brotli is one more of them):

- an answer below COMPRESS_MIN_BYTES is sent as it is;
- one that already has a Content-Encoding (a response-cache hit, compressed from its stored
  head), a 206, or an excluded type (`text/event-stream`, images, archives) passes untouched;
- one sent in several body messages (a stream) is compressed message by message, each flushed,
  so every part reaches the client when it is sent, never buffered whole;
- any other is compressed whole, with `Vary: Accept-Encoding` (also when sent plain because the
  client takes no coding, so shared caches keep the two apart).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import anyio.to_thread
import brotli
from starlette.middleware.gzip import (
    DEFAULT_EXCLUDED_CONTENT_TYPES,
    GZipResponder,
    IdentityResponder,
    unattached_send,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.http.negotiation import BROTLI, GZIP, accept_encoding, negotiate

# As Starlette's gzip: a body this large is compressed off the event loop (brotli, like zlib,
# releases the GIL while it works), so other requests go on meanwhile.
THREAD_MINIMUM_BYTES = 128 * 1024


class BrotliResponder(IdentityResponder):
    content_encoding = BROTLI

    def __init__(self, app: ASGIApp, minimum_size: int, quality: int) -> None:
        super().__init__(app, minimum_size)
        self.quality = quality
        self._compressor: Any = None  # a stream's, made at its first part

    async def apply_compression(self, body: bytes, *, more_body: bool) -> bytes:
        if len(body) >= THREAD_MINIMUM_BYTES:
            return await anyio.to_thread.run_sync(self._compress, body, more_body)
        return self._compress(body, more_body)

    def _compress(self, body: bytes, more_body: bool) -> bytes:
        if self._compressor is None:
            if not more_body:  # a whole body: one call
                whole: bytes = brotli.compress(body, quality=self.quality)
                return whole
            self._compressor = brotli.Compressor(quality=self.quality)
        part: bytes = self._compressor.process(body)
        end: bytes = self._compressor.flush() if more_body else self._compressor.finish()
        return part + end


class PlainResponder:
    """Starlette's IdentityResponder (a client that takes no coding: the answer is sent as it is,
    with `Vary: Accept-Encoding` when it could have been compressed), its decisions taken from
    the raw headers in one pass: it runs for every such request, a response-cache hit included,
    where Starlette's parses the headers twice and normalises its excluded types each time.
    tests/cache/test_hit_path.py holds the two to the same messages."""

    __slots__ = ("app", "minimum_size", "passing", "send", "start", "started")

    EXCLUDED = frozenset(
        t.partition(";")[0].strip().lower() for t in DEFAULT_EXCLUDED_CONTENT_TYPES
    )

    def __init__(self, app: ASGIApp, minimum_size: int) -> None:
        self.app = app
        self.minimum_size = minimum_size
        self.send: Send = unattached_send
        self.start: Message = {}
        self.passing = False  # already coded, partial or of an excluded type: untouched
        self.started = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.send = send
        await self.app(scope, receive, self.send_plain)

    async def send_plain(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            self.start = message
            headers = message.setdefault("headers", [])
            self.passing = message["status"] == 206 or self._untouched(headers)
            if self.passing:
                await self.send(message)
        elif self.passing and kind in ("http.response.body", "http.response.pathsend"):
            await self.send(message)
        elif kind == "http.response.body" and not self.started:
            self.started = True
            body = message.get("body", b"")
            if message.get("more_body", False) or len(body) >= self.minimum_size:
                add_vary(self.start["headers"])
            await self.send(self.start)
            await self.send(message)
        elif kind == "http.response.pathsend":
            await self.send(self.start)
            await self.send(message)
        else:  # a stream's later parts, early hints, trailers
            await self.send(message)

    def _untouched(self, headers: list[tuple[bytes, bytes]]) -> bool:
        content_type = None
        for name, value in headers:
            if name == b"content-encoding":
                return True
            if name == b"content-type" and content_type is None:
                content_type = value
        if content_type is None:
            return False
        media = content_type.decode("latin-1").partition(";")[0].strip().lower()
        grpc = media.startswith("application/grpc+")
        excluded = self.EXCLUDED
        return (
            media in excluded
            or media.partition("/")[0] + "/*" in excluded
            or (grpc and "application/grpc" in excluded)
        )


def add_vary(headers: list[tuple[bytes, bytes]]) -> None:
    """Starlette's `MutableHeaders.add_vary_header("Accept-Encoding")` on raw headers: every
    Vary value joined into the first Vary header, the others dropped."""
    found = [i for i, (name, _) in enumerate(headers) if name == b"vary"]
    if not found:
        headers.append((b"vary", b"Accept-Encoding"))
        return
    joined = b", ".join([*(headers[i][1] for i in found), b"Accept-Encoding"])
    headers[found[0]] = (b"vary", joined)
    for i in reversed(found[1:]):
        del headers[i]


class ResponseCompression:
    def __init__(
        self,
        app: ASGIApp,
        offered: Sequence[str],
        minimum_size: int,
        gzip_level: int,
        brotli_quality: int,
    ) -> None:
        self.app = app
        self.offered = tuple(offered)
        self.minimum_size = minimum_size
        self.gzip_level = gzip_level
        self.brotli_quality = brotli_quality

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        coding = negotiate(accept_encoding(scope), self.offered)
        responder: ASGIApp
        if coding == BROTLI:
            responder = BrotliResponder(self.app, self.minimum_size, self.brotli_quality)
        elif coding == GZIP:
            responder = GZipResponder(self.app, self.minimum_size, compresslevel=self.gzip_level)
        else:
            responder = PlainResponder(self.app, self.minimum_size)
        await responder(scope, receive, send)
