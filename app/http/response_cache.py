"""The response cache and automatic persisted queries, in front of the GraphQL router.

A hit is answered here, or before the middleware chain by HitFront (app/http/front.py), which
shares this module's look-up and answer (SharedResponses) for the POSTs it is sure of: no
parsing, validation or execution either way. Whether a result may be shared,
and for how long, is decided by the schema (schema/caching.py) and left in the request state.
Callers with an API key are never served from, nor stored into, the shared cache.

`extensions.cost` is the caller's own (its budget), so it is stripped from the stored body and
rebuilt on every hit. A hit executes nothing, so it is charged HIT_COST points, whatever the
operation's requested cost. The ETag is weak, as bodies differ in that extension alone.

Each stored response lists the cache tags it depends on with their generations at store time:
the stocks whose sentiment, history or mentions it shows, and trending if it ranks them, as the
request's loaders read them (loaders/base.py). A hit is served only while every one of those
generations is current, so an ingest for one stock leaves responses about other stocks cached.
A response depending on more than CACHE_RESPONSE_MAX_TAGS tags is tagged `responses` instead,
which every ingest bumps. A look-up is one round trip: a script on Redis reads the entry and
checks its tags' generations (Backend.get_current), and returns the `responses` generation too.

Concurrent misses of one entry execute once per worker: the others wait for the first, then look
the entry up again (docs/CACHING.md).

A hit is still a request of its operation: it is recorded through the monitor (latency histogram
and `serverStats`) under the name GraphQL recorded when the entry was stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import time
from typing import TYPE_CHECKING, Any

import orjson
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from app.cache import RESPONSES_TAG, Cache
from app.config import Settings
from app.http.compression import Deflated, brotli_head, brotli_with, deflate_head, gzip_with
from app.http.entry import decode, encode, entries_prefix, without_cost
from app.http.graphql_request import GraphQLRequest, parse, read_body, replay
from app.http.hit_lookup import HitLookup, Lookup
from app.http.near_hits import NearHits
from app.http.negotiation import BROTLI, GZIP, IDENTITY, accept_encoding, negotiate
from app.http.sending import Recorder, private, send_bytes
from app.ratelimit import (
    Buckets,
    Decision,
    Rate,
    anonymous_client,
    cost_report,
    throttled_refusal,
    tier_rate,
)

if TYPE_CHECKING:
    from app.monitoring.monitor import Monitor

POLICY_STATE_KEY = "cache_policy"  # set by schema/caching.py: seconds it may be shared, or None
OPERATION_STATE_KEY = "cache_operation"  # set by schema/caching.py: the operation's name, or None
TAGS_STATE_KEY = "cache_tags"  # set by schema/caching.py: {tag: generation} the execution read
ANONYMOUS = "anonymous"  # the label of an unnamed operation, as the tracing extension records it
SHA256 = re.compile(r"[0-9a-f]{64}")
# A document that starts with a mutation or subscription is never shared: skip the lookup.
NOT_A_QUERY = re.compile(r"\A(?:\s|,|#[^\n]*)*(?:mutation|subscription)\b")
VARY = (b"vary", b"Accept-Encoding")  # a shared response that may be sent compressed
HIT_COST = 1  # budget points a response-cache hit costs (it parses, validates, executes nothing)
FLIGHT_KEPT_S = 1.0  # how long after a miss is stored the requests that missed it look again
LOOKED_UP_KEY = "insitechart.looked_up"  # (entry key, Lookup): HitFront's miss, not looked up again


def _error(message: str, code: str, **extra: object) -> bytes:
    return orjson.dumps({"errors": [{"message": message, "extensions": {"code": code, **extra}}]})


class SharedResponses:
    """What the cache's two entrances share (ResponseCache, and HitFront in app/http/front.py,
    which answers plain hits before the middleware chain): the entries' keys, the look-up that
    charges a hit, and the answer a hit sends."""

    def __init__(self, settings: Settings, schema_version: str) -> None:
        self.settings = settings
        self.prefix = f"{entries_prefix(settings.cache_namespace)}{schema_version}:"
        self.rate = tier_rate(settings, "anonymous")  # what a hit is charged against
        # The codings a stored head is kept in, in the server's preference.
        self.offered = tuple(settings.compress_encodings) if settings.compress_enabled else ()
        self._hits: HitLookup | None = None
        self._near: NearHits | None = None  # what self._hits was made with

    def key(self, request: GraphQLRequest) -> str:
        """The entry of a request: its operation (document, variables, name) in this schema."""
        return self.prefix + hashlib.sha256(request.cache_material()).hexdigest()

    async def look_up(self, scope: Scope, cache: Cache, key: str, headers: Headers) -> Lookup:
        """The entry, if current; on a single Redis a fresh one is charged in the same round
        trip (app/http/hit_lookup.py), except for a revalidation (a 304 is not charged)."""
        hits = self._hit_lookup(cache, resources_of(scope, "buckets"), resources_of(scope, "near"))
        revalidation = "if-none-match" in headers
        return await hits.lookup(
            key, RESPONSES_TAG, _client(scope), self.rate, HIT_COST, charge=not revalidation
        )

    def _hit_lookup(
        self, cache: Cache, buckets: Buckets | None, near: NearHits | None
    ) -> HitLookup:
        """One HitLookup per cache, buckets and near hits (the app's resources, built at
        start-up)."""
        hits = self._hits
        if (
            hits is None
            or hits.cache is not cache
            or hits.buckets is not buckets
            or self._near is not near
        ):
            hits = self._hits = HitLookup(cache, buckets, near)
            self._near = near
        return hits

    async def serve(
        self,
        found: Lookup,
        cache: Cache,
        request: GraphQLRequest,
        scope: Scope,
        send: Send,
        headers: Headers,
        started: float,
    ) -> bool:
        """Answer from a stored entry that is still fresh; False when there is none."""
        hit = found.entry if found.entry is not None else decode(found.raw)
        if hit is None:
            return False
        _, expires, etag, requested, operation, body, deflated, brotli = hit
        max_age = int(expires - time.time())
        if found.decision is None and max_age <= 0:
            return False
        # A charged look-up found it fresh by Redis's clock: it is served (and was paid for).
        max_age = max(max_age, 0)
        cache.record("response", "hits")
        shared = [
            (b"cache-control", f"public, max-age={max_age}".encode()),
            (b"etag", etag.encode()),
            (b"x-cache", b"HIT"),
        ]
        if request.method == "GET" and etag in headers.get("if-none-match", ""):
            await send_bytes(send, 304, b"", shared, content_type=False)
            self.record_hit(scope, operation, started)
            return True
        if found.decision is None:
            tail, retry = await self._charge_hit(scope, requested)
        else:
            tail, retry = self._hit_tail(requested, self.rate, found.decision)
        if retry is not None:
            throttled = [(b"retry-after", str(retry).encode())]
            await send_bytes(send, 429, tail, [*throttled, (b"cache-control", b"no-store")])
            self.record_hit(scope, operation, started, "THROTTLED")
            return True
        answer, encoding = self.answer(body, deflated, brotli, tail, scope)
        await send_bytes(send, 200, answer, [*shared, *encoding])
        self.record_hit(scope, operation, started)
        return True

    def record_hit(self, scope: Scope, operation: str, started: float, *errors: str) -> None:
        """Count a hit as a request of its operation, as if GraphQL had answered it."""
        monitor: Monitor | None = resources_of(scope, "monitor")
        if monitor is not None:
            monitor.record_operation(operation, time.perf_counter() - started, errors, None, ())

    def answer(
        self,
        shared_body: bytes,
        deflated: Deflated | None,
        brotli: bytes | None,
        tail: bytes,
        scope: Scope,
    ) -> tuple[bytes, list[tuple[bytes, bytes]]]:
        """The stored body completed by `tail`, in the coding negotiated among those the entry
        holds a head for (only the tail is added here), else plain.

        A plain answer of COMPRESS_MIN_BYTES or more goes through ResponseCompression, outside
        (or HitFront's equivalent), which adds the Vary header; it would compress it only for a
        client taking a coding the entry holds no head in (one written by a worker offering
        other codings).
        """
        coding = IDENTITY
        if deflated is not None or brotli is not None:
            coding = negotiate(accept_encoding(scope), self._codings(deflated, brotli))
        if coding == BROTLI and brotli is not None:
            return brotli_with(brotli, tail), [VARY, (b"content-encoding", b"br")]
        if coding == GZIP and deflated is not None:
            answer = gzip_with(deflated, tail)
            return answer, [VARY, (b"content-encoding", b"gzip")]
        return shared_body[:-1] + tail, []

    def _codings(self, deflated: Deflated | None, brotli: bytes | None) -> tuple[str, ...]:
        """The codings offered that an entry holds a head for."""
        if deflated is not None and brotli is not None:
            return self.offered  # the usual entry: one tuple, so one negotiation cache entry
        return tuple(
            coding
            for coding in self.offered
            if (coding == GZIP and deflated is not None)
            or (coding == BROTLI and brotli is not None)
        )

    async def _charge_hit(self, scope: Scope, requested: int) -> tuple[bytes, int | None]:
        """Charge a hit to the caller's budget: the tail that completes the stored body with the
        caller's own cost (`,"extensions":{"cost":...}}`), or a refusal with the seconds to
        wait (HTTP 429, Retry-After).

        A hit executes nothing, so it costs HIT_COST points whatever the operation's requested
        cost; a client that floods even cached operations is still throttled (429).
        """
        buckets = resources_of(scope, "buckets")
        if buckets is None:
            return b"}", None
        decision = await buckets.take(_client(scope), HIT_COST, self.rate)
        return self._hit_tail(requested, self.rate, decision)

    def _hit_tail(self, requested: int, rate: Rate, decision: Decision) -> tuple[bytes, int | None]:
        if not decision.allowed:
            message, extensions = throttled_refusal(HIT_COST, decision)
            error = {"message": message, "extensions": extensions}
            return orjson.dumps({"errors": [error]}), decision.retry_after_s
        cost = cost_report(requested, HIT_COST, rate, decision)
        # The stored body is `{"data":...}` with no extensions (without_cost removed the only
        # one): appending the tail gives the bytes orjson would give the whole document.
        return b',"extensions":{"cost":' + orjson.dumps(cost) + b"}}", None


class ResponseCache:
    def __init__(self, app: ASGIApp, responses: SharedResponses) -> None:
        self.app = app
        self.responses = responses
        self.settings = settings = responses.settings
        self.apq_prefix = f"{settings.cache_namespace}:apq:"
        # Misses executing now (or stored a moment ago), by entry key; done once answered.
        self._inflight: dict[str, asyncio.Future[None]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        cache = self._cache(scope)
        if (
            cache is None
            or scope["type"] != "http"
            or scope["path"].rstrip("/") != "/graphql"
            or scope["method"] not in ("GET", "POST")
        ):
            await self.app(scope, receive, send)
            return
        body, messages = await read_body(receive) if scope["method"] == "POST" else (b"", [])
        complete = not messages or not messages[-1].get("more_body", False)
        request = parse(scope, body, complete)
        replayed_body: bytes | None = None
        if request is not None and request.extensions.get("persistedQuery") is not None:
            outcome = await self._persisted(cache, request, scope)
            if isinstance(outcome, bytes):
                status = 200 if b"PERSISTED_QUERY_NOT_FOUND" in outcome else 400
                await send_bytes(send, status, outcome, [(b"cache-control", b"no-store")])
                return
            scope, replayed_body = outcome
        receive = replay(messages, replayed_body, receive)
        headers = Headers(scope=scope)
        if (
            request is None
            or request.query is None
            or not self.settings.cache_response_enabled
            or "authorization" in headers
            or "x-trace" in headers  # a traced response is for its caller only
            or NOT_A_QUERY.match(request.query)
        ):
            await self.app(scope, receive, private(send))
            return
        await self._cached(cache, request, scope, receive, send, headers, started)

    def _cache(self, scope: Scope) -> Cache | None:
        cache: Cache | None = resources_of(scope, "cache")
        return cache

    async def _persisted(
        self, cache: Cache, request: GraphQLRequest, scope: Scope
    ) -> bytes | tuple[Scope, bytes | None]:
        """Apollo's protocol: a known hash stands for its query; a new one is registered."""
        persisted = request.extensions["persistedQuery"]
        digest = persisted.get("sha256Hash") if isinstance(persisted, dict) else None
        if not isinstance(digest, str) or not SHA256.fullmatch(digest):
            return _error(
                "extensions.persistedQuery.sha256Hash must be 64 lower-case hex digits",
                "BAD_USER_INPUT",
                field="extensions.persistedQuery.sha256Hash",
            )
        if self.settings.cache_apq_ttl_s <= 0:
            return _error("PersistedQueryNotSupported", "PERSISTED_QUERY_NOT_SUPPORTED")
        key = self.apq_prefix + digest
        if request.query is not None:
            if hashlib.sha256(request.query.encode()).hexdigest() != digest:
                return _error(
                    "provided sha256Hash does not match the query",
                    "PERSISTED_QUERY_HASH_MISMATCH",
                )
            await cache.backend.set_many(
                [(key, request.query.encode(), self.settings.cache_apq_ttl_s)]
            )
            return scope, None
        (stored,) = await cache.backend.get_many([key])
        if stored is None:
            return _error("PersistedQueryNotFound", "PERSISTED_QUERY_NOT_FOUND")
        return request.with_query(scope, stored.decode())

    async def _cached(
        self,
        cache: Cache,
        request: GraphQLRequest,
        scope: Scope,
        receive: Receive,
        send: Send,
        headers: Headers,
        started: float,
    ) -> None:
        responses = self.responses
        key = responses.key(request)
        looked_up = scope.pop(LOOKED_UP_KEY, None)
        if looked_up is not None and looked_up[0] == key:
            found = looked_up[1]  # HitFront's look-up of this request: a miss
        else:
            found = await responses.look_up(scope, cache, key, headers)
        responses_generation = found.generation
        if await responses.serve(found, cache, request, scope, send, headers, started):
            return
        leader = self._inflight.get(key)
        if leader is not None:
            # The same operation is executing (or was just stored) for another caller of this
            # worker: wait for it and look again, instead of executing it once more (an expired
            # entry under load would otherwise be recomputed by every request that misses it
            # before it is stored). The second look-up checks the tags again, so what a follower
            # gets is as fresh as what a hit gets.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    asyncio.shield(leader), self.settings.limits_execution_timeout_s
                )
            found = await responses.look_up(scope, cache, key, headers)
            responses_generation = found.generation
            if await responses.serve(found, cache, request, scope, send, headers, started):
                return
        flight: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._inflight[key] = flight
        stored = False
        try:
            stored = await self._execute_and_store(
                cache, key, scope, receive, send, headers, responses_generation
            )
        finally:
            flight.set_result(None)
            if not stored:
                self._forget(key, flight)  # the followers execute themselves
            else:
                # Requests that looked the entry up just before it was stored would each lead
                # an execution of their own: the finished flight sends them to look again.
                asyncio.get_running_loop().call_later(FLIGHT_KEPT_S, self._forget, key, flight)

    def _forget(self, key: str, flight: asyncio.Future[None]) -> None:
        if self._inflight.get(key) is flight:
            del self._inflight[key]

    async def _execute_and_store(
        self,
        cache: Cache,
        key: str,
        scope: Scope,
        receive: Receive,
        send: Send,
        headers: Headers,
        responses_generation: int,
    ) -> bool:
        """Execute (a miss), answer, and store the result when it may be shared; whether it
        was stored."""
        cache.record("response", "misses")
        state = scope.setdefault("state", {})
        recorder = Recorder(send)
        await self.app(scope, receive, recorder.send)
        ttl = state.get(POLICY_STATE_KEY)
        tags = state.get(TAGS_STATE_KEY)
        body = recorder.body
        if (
            recorder.status != 200
            or recorder.streaming
            or not isinstance(tags, dict)
            or not isinstance(ttl, (int, float))
            or ttl < 1
            or len(body) > self.settings.cache_response_max_bytes
            or b'"errors"' in body
        ):
            await recorder.flush([(b"cache-control", b"no-store")])
            return False
        stripped = without_cost(body)
        if stripped is None:  # other extensions than the cost: not a body a hit can complete
            await recorder.flush([(b"cache-control", b"no-store")])
            return False
        shared_body, requested = stripped
        etag = 'W/"' + hashlib.sha256(shared_body).hexdigest()[:32] + '"'
        operation = state.get(OPERATION_STATE_KEY) or ANONYMOUS
        if len(tags) > self.settings.cache_response_max_tags:
            tags = {RESPONSES_TAG: responses_generation}
        deflated, brotli = self._compress_head(shared_body)
        expires = time.time() + ttl
        entry = encode(
            sorted(tags.items()), expires, etag, requested, operation, shared_body, deflated, brotli
        )
        await cache.backend.set_many([(key, entry, ttl)])
        cache.record("response", "writes")
        headers_out = [
            (b"cache-control", f"public, max-age={int(ttl)}".encode()),
            (b"etag", etag.encode()),
            (b"x-cache", b"MISS"),
        ]
        size = len(shared_body) - 1
        compressed = deflated is not None or brotli is not None
        if compressed and body.startswith(shared_body[:size]):
            # The caller's own body is the stored head and its cost: only its tail is added.
            tail = body[size:]
            answer, encoding = self.responses.answer(shared_body, deflated, brotli, tail, scope)
            recorder.replace_body(answer)
            headers_out += encoding
        await recorder.flush(headers_out)
        return True

    def _compress_head(self, shared_body: bytes) -> tuple[Deflated | None, bytes | None]:
        """The stored body's head (all but its closing brace) compressed once in each coding
        offered: deflated for gzip answers, flushed brotli for br ones; (None, None) when the
        body is too small to be worth compressing.

        Both are kept whatever the caller asked, so that no hit ever compresses its body, for
        any client: browsers take br, many HTTP libraries only gzip, and the first caller says
        nothing of the next ones. The brotli head is ~0.07-0.14 of the body (JSON compresses
        well): an entry grows by that much (docs/CACHING.md); COMPRESS_ENCODINGS drops either.
        """
        settings, offered = self.settings, self.responses.offered
        if not offered or len(shared_body) < settings.compress_min_bytes:
            return None, None
        head = shared_body[:-1]
        deflated = deflate_head(head, settings.compress_level) if GZIP in offered else None
        brotli = brotli_head(head, settings.compress_brotli_quality) if BROTLI in offered else None
        return deflated, brotli


def resources_of(scope: Scope, name: str) -> Any:
    """An attribute of the app's Resources (None before start-up, or without it)."""
    resources = getattr(scope["app"].state, "resources", None) if "app" in scope else None
    return getattr(resources, name, None)


def _client(scope: Scope) -> str:
    """The budget an anonymous caller is charged to: its address."""
    client = scope.get("client")
    return anonymous_client(client[0] if client else "unknown")
