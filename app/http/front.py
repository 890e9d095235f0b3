"""Response-cache hits answered before the middleware chain (HitFront).

A hit of the shared response cache costs a Redis round trip and a few microseconds of its own;
the chain around it (the HTTP rules with their timer, compression, known refusals, the response
cache's own reading of the body, each layer with its send wrapper) cost as much again. HitFront
sits outside that chain and answers a POST that is certainly an anonymous query: it reads the
body once, applies the checks the chain would apply (by calling the same functions), looks the
entry up with the same script, and sends what the chain would send, header for header
(tests/cache/test_hit_front.py holds the two to the same answers).

Whatever it is not sure of goes down the chain untouched, the body it read replayed: an API key,
a trace, GET, a body that is not one complete JSON object of the right shape, a persisted query,
a mutation or subscription, a document refused already, an answer asked for in
`application/graphql-response+json`. A miss goes down the chain too, its look-up left in the
scope so that the response cache does not repeat it (LOOKED_UP_KEY).

Its look-up runs outside the HTTP rules' execution timeout: the Redis client's own timeout
bounds it, as it bounds the chain's.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.config import Settings
from app.http.graphql_request import MAX_BODY_BYTES, GraphQLRequest, read_body, replay
from app.http.known_refusals import Check
from app.http.limits import GraphQLHTTPError, check_fields, wants_graphql_response
from app.http.negotiation import IDENTITY, accept_encoding, negotiate
from app.http.response_cache import LOOKED_UP_KEY, NOT_A_QUERY, SharedResponses, resources_of
from app.http.response_compression import ResponseCompression, add_vary
from app.http.security_headers import API_HEADERS, SecurityHeaders

JSON_MEDIA = "application/json"


class HitFront:
    def __init__(
        self,
        app: ASGIApp,
        *,
        path: str,
        settings: Settings,
        responses: SharedResponses,
        check: Check,
    ) -> None:
        self.app = app
        self.path = path
        self.settings = settings
        self.responses = responses
        self.check = check
        self.max_body_bytes = min(settings.limits_max_body_bytes, MAX_BODY_BYTES)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != self.path:
            await self.app(scope, receive, send)
            return
        cache = resources_of(scope, "cache")
        headers = Headers(scope=scope)
        if cache is None or not self._may_hit(scope, headers):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        body, messages = await read_body(receive)
        replayed = replay(messages, None, receive)
        complete = messages[-1]["type"] == "http.request" and not messages[-1].get("more_body")
        request = self._request(body) if complete else None
        if request is None:
            await self.app(scope, replayed, send)
            return
        responses = self.responses
        key = responses.key(request)
        found = await responses.look_up(scope, cache, key, headers)
        sender = _HitSender(self, scope, receive, send)
        if not await responses.serve(found, cache, request, scope, sender.send, headers, started):
            scope[LOOKED_UP_KEY] = (key, found)
            await self.app(scope, replayed, send)

    def _may_hit(self, scope: Scope, headers: Headers) -> bool:
        """Whether the request's headers let it be a shared hit the chain would send as is."""
        if "authorization" in headers or "x-trace" in headers or wants_graphql_response(headers):
            return False
        # The HTTP rules read the first Content-Type (else 415), the response cache the last.
        media = headers.get("content-type", "").split(";")[0].strip().lower()
        last = dict(scope["headers"]).get(b"content-type", b"")
        if media != JSON_MEDIA or not last.startswith(JSON_MEDIA.encode()):
            return False
        declared = headers.get("content-length")
        if declared is not None and declared.isascii() and declared.isdigit():
            return int(declared) <= self.max_body_bytes
        return True

    def _request(self, body: bytes) -> GraphQLRequest | None:
        """The request, if its (complete) body is one the chain would look up; else None."""
        if len(body) > self.max_body_bytes:
            return None
        try:
            data = orjson.loads(body)
            check_fields(data)  # what the HTTP rules refuse, the chain refuses
        except (orjson.JSONDecodeError, GraphQLHTTPError):
            return None
        request = GraphQLRequest("POST", data, body)
        query = request.query
        if (
            query is None
            or "persistedQuery" in request.extensions
            or NOT_A_QUERY.match(query)
            or self.check(query) is not None
        ):
            return None
        return request


class _HitSender:
    """Sends a hit's two messages as the chain outside the response cache would: `Vary` added to
    a plain answer large enough to compress (ResponseCompression's plain responder), then the
    security headers. A plain answer the client takes compressed (an entry without a head in
    its coding) goes through the compression and security middleware themselves."""

    __slots__ = ("front", "receive", "scope", "send_out", "start")

    def __init__(self, front: HitFront, scope: Scope, receive: Receive, send: Send) -> None:
        self.front = front
        self.scope = scope
        self.receive = receive
        self.send_out = send
        self.start: Message | None = None

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.start = message
            return
        start = self.start
        assert start is not None and not message.get("more_body", False)
        settings = self.front.settings
        headers: list[tuple[bytes, bytes]] = start["headers"]
        if settings.compress_enabled and len(message["body"]) >= settings.compress_min_bytes:
            coded = any(name == b"content-encoding" for name, _ in headers)
            if not coded:
                offered = tuple(settings.compress_encodings)
                if negotiate(accept_encoding(self.scope), offered) != IDENTITY:
                    await self._through_chain(start, message)
                    return
                add_vary(headers)
        headers.extend(API_HEADERS)
        await self.send_out(start)
        await self.send_out(message)

    async def _through_chain(self, start: Message, body: Message) -> None:
        settings = self.front.settings

        async def answer(scope: Scope, receive: Receive, send: Send) -> Any:
            await send(start)
            await send(body)

        compression = ResponseCompression(
            answer,
            offered=settings.compress_encodings,
            minimum_size=settings.compress_min_bytes,
            gzip_level=settings.compress_level,
            brotli_quality=settings.compress_brotli_quality,
        )
        await SecurityHeaders(compression)(self.scope, self.receive, self.send_out)
