"""Response-cache hits answered before the middleware chain (app/http/front.py): the same answers
as the chain gives, header for header, and none of the chain's work for a plain hit.

The differential tests run two apps on one Redis namespace (so an entry one stores, the other
hits): the app as built, and the same app without HitFront, where every request goes through the
chain. Each request is sent to both after the entry it asks for is stored."""

from __future__ import annotations

import json
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from app.config import Settings
from app.db import Database
from app.http.front import HitFront
from app.main import create_app
from tests.app.test_direct_endpoint import comparable
from tests.cache.conftest import cache_settings
from tests.conftest import serve
from tests.factories.universe import make_universe

STOCKS = "query Stocks($first: Int!) { stocks(first: $first) { nodes { symbol name sector } } }"
SMALL = 'query One { stock(symbol: "S000") { symbol } }'
PLAIN = {"query": STOCKS, "variables": {"first": 5}}
JSON = {"content-type": "application/json"}

# (body, headers): hits in every coding, and what the front must leave to the chain.
REQUESTS: list[tuple[Any, list[tuple[str, str]]]] = [
    (PLAIN, []),
    (PLAIN, [("accept-encoding", "gzip")]),
    (PLAIN, [("accept-encoding", "br, gzip")]),
    (PLAIN, [("accept-encoding", "gzip;q=0, br;q=0")]),
    (PLAIN, [("accept-encoding", "identity")]),
    (PLAIN, [("accept", "application/graphql-response+json")]),
    (PLAIN, [("accept", "application/json")]),
    (PLAIN, [("authorization", "Bearer not-a-key")]),
    (PLAIN, [("authorization", "Basic abc")]),
    (PLAIN, [("x-trace", "1")]),
    (PLAIN, [("if-none-match", 'W/"x"')]),
    (PLAIN, [("content-type", "application/json; charset=utf-8")]),
    (PLAIN, [("content-type", "text/plain")]),
    (PLAIN, [("content-type", "application/json"), ("content-type", "text/plain")]),
    (PLAIN, [("content-type", "text/plain"), ("content-type", "application/json")]),
    ({"query": SMALL}, []),
    ({"query": SMALL, "operationName": "One"}, []),
    ({"query": SMALL, "operationName": "Two"}, []),
    ({**PLAIN, "extensions": {}}, []),
    ({**PLAIN, "extensions": "x"}, []),
    ({**PLAIN, "variables": [1]}, []),
    ({**PLAIN, "variables": {"first": 5, "x": "\ud800"}}, []),
    ({**PLAIN, "query": 5}, []),
    ({**PLAIN, "query": ""}, []),
    ({**PLAIN, "operationName": 5}, []),
    ([PLAIN], []),
    ("not an object", []),
    ({"query": "mutation { __typename }"}, []),
    ({"query": "{ __typename " + "__typename " * 3000 + "}"}, []),
    ({"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "0" * 64}}}, []),
    ({"query": "{ nope }"}, []),
]


def without_front(app: FastAPI) -> FastAPI:
    """The app with every request through the chain."""
    app.user_middleware = [
        m for m in app.user_middleware if getattr(m, "cls", None) is not HitFront
    ]
    return app


def hit_settings(
    settings: Settings, namespace: str, redis_url: str | None, **overrides: Any
) -> Settings:
    """The response cache on; answers from COMPRESS_MIN_BYTES (here 200) compressed: PLAIN's
    (~300 bytes) is, SMALL's is not."""
    return cache_settings(
        settings,
        namespace,
        redis_url=redis_url,
        cache_response_enabled=True,
        **{"compress_min_bytes": 200, **overrides},
    )


def encode(body: Any) -> bytes:
    """The body as a client sends it; a lone surrogate (not UTF-8) as its JSON escape."""
    try:
        return orjson.dumps(body)
    except orjson.JSONEncodeError:
        return json.dumps(body).encode()


async def post(http: httpx.AsyncClient, body: Any, headers: list[tuple[str, str]]) -> Any:
    names = {name for name, _ in headers}
    sent = headers if "content-type" in names else [*JSON.items(), *headers]
    return await http.post("/graphql", content=encode(body), headers=sent)


@pytest.mark.parametrize(("body", "headers"), REQUESTS)
async def test_the_front_answers_what_the_chain_answers(
    db: Database,
    settings: Settings,
    namespace: str,
    redis_url: str,
    redis_client: Any,
    body: Any,
    headers: list[tuple[str, str]],
) -> None:
    await make_universe(db, 6, 1)
    shared = hit_settings(settings, namespace, redis_url)
    chain_app = without_front(create_app(shared))
    async with serve(create_app(shared)) as front, serve(chain_app) as chain:
        await post(chain, body, [])  # stores the entry, if the request may be stored at all
        answered = await post(front, body, headers)
        reference = await post(chain, body, headers)
    assert comparable(answered) == comparable(reference)
    assert answered.headers.get("x-cache") == reference.headers.get("x-cache")


async def test_a_throttled_hit_is_answered_as_the_chain_answers_it(
    db: Database, settings: Settings, namespace: str, redis_url: str, redis_client: Any
) -> None:
    await make_universe(db, 6, 1)
    # A budget the stored execution leaves a few points of, refilling one point an hour.
    tight = hit_settings(
        settings,
        namespace,
        redis_url,
        budget_anonymous_capacity=40,
        budget_anonymous_restore_per_s=1 / 3600,
    )
    async with serve(create_app(tight)) as front, serve(without_front(create_app(tight))) as chain:
        stored = await post(chain, PLAIN, [])
        assert stored.headers["x-cache"] == "MISS"
        answered = [await post(front, PLAIN, []) for _ in range(40)]
        reference = await post(chain, PLAIN, [])
    statuses = [a.status_code for a in answered]
    assert 200 in statuses and statuses[-1] == 429  # some hits were paid for, then refused
    assert reference.status_code == 429
    assert comparable(answered[-1]) == comparable(reference)
    assert answered[-1].headers["retry-after"] == reference.headers["retry-after"]


async def test_an_entry_without_a_head_in_the_clients_coding_is_compressed_as_the_chain_would(
    db: Database, settings: Settings, namespace: str, redis_url: str, redis_client: Any
) -> None:
    """An entry stored by a worker offering brotli alone holds no gzip head: a gzip client gets
    it compressed by the compression middleware itself, as through the chain."""
    await make_universe(db, 6, 1)
    brotli_only = hit_settings(settings, namespace, redis_url, compress_encodings=["br"])
    both = hit_settings(settings, namespace, redis_url)
    async with serve(create_app(brotli_only)) as writer:
        await post(writer, PLAIN, [])
    gzip = [("accept-encoding", "gzip")]
    async with serve(create_app(both)) as front, serve(without_front(create_app(both))) as chain:
        answered = await post(front, PLAIN, gzip)
        reference = await post(chain, PLAIN, gzip)
    assert answered.headers["x-cache"] == "HIT"
    assert answered.headers["content-encoding"] == "gzip"
    assert comparable(answered) == comparable(reference)


class Entered:
    """Counts the requests that reach the chain behind the front."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.scopes: list[Scope] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.scopes.append(scope)
        await self.app(scope, receive, send)


def the_front(app: FastAPI) -> HitFront:
    layer: Any = app.middleware_stack
    while not isinstance(layer, HitFront):
        layer = layer.app
    return layer


@pytest.mark.parametrize("cache_backend", ["memory", "redis"])
async def test_a_plain_hit_enters_none_of_the_chain_and_a_miss_is_looked_up_once(
    db: Database,
    settings: Settings,
    namespace: str,
    redis_url: str,
    redis_client: Any,
    cache_backend: str,
) -> None:
    await make_universe(db, 6, 1)
    chosen = hit_settings(settings, namespace, redis_url if cache_backend == "redis" else None)
    app = create_app(chosen)
    async with serve(app) as http:
        await http.get("/livez")  # builds the middleware stack
        front = the_front(app)
        entered = Entered(front.app)
        front.app = entered
        responses = front.responses
        look_up = responses.look_up
        lookups = 0

        async def counted(*args: Any) -> Any:
            nonlocal lookups
            lookups += 1
            return await look_up(*args)

        responses.look_up = counted  # type: ignore[method-assign,assignment]
        miss = await post(http, PLAIN, [])
        hits = [await post(http, PLAIN, h) for h in ([], [("accept-encoding", "gzip")])]
        stats = app.state.resources.cache.stats["response"]
    assert miss.headers["x-cache"] == "MISS"
    assert [h.headers["x-cache"] for h in hits] == ["HIT", "HIT"]
    assert [h.json()["data"] for h in hits] == [miss.json()["data"]] * 2
    assert hits[1].headers["content-encoding"] == "gzip"
    assert len(entered.scopes) == 1  # only the miss went down the chain
    assert (stats.hits, stats.misses, stats.writes) == (2, 1, 1)
    assert lookups == 3  # one per request: the chain did not look the miss up again


async def test_a_stored_document_the_limits_now_refuse_is_refused_as_the_chain_refuses_it(
    db: Database, settings: Settings, namespace: str, redis_url: str, redis_client: Any
) -> None:
    """Stored under a higher token limit, an entry is still there when a worker with a lower one
    is asked for it: the front refuses it as the chain does, without serving the entry."""
    await make_universe(db, 6, 1)
    async with serve(create_app(hit_settings(settings, namespace, redis_url))) as writer:
        assert (await post(writer, PLAIN, [])).headers["x-cache"] == "MISS"
    strict = hit_settings(settings, namespace, redis_url, limits_max_tokens=10)
    chain_app = without_front(create_app(strict))
    async with serve(create_app(strict)) as front, serve(chain_app) as chain:
        answered = await post(front, PLAIN, [])
        reference = await post(chain, PLAIN, [])
    assert answered.json()["errors"][0]["extensions"]["code"] == "MAX_TOKENS_EXCEEDED"
    assert comparable(answered) == comparable(reference)
