"""GET and POST /graphql reach the view past FastAPI's router (app/http/endpoint.py), answering
exactly what the route answers: the same app without the endpoint is the reference."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from starlette.routing import BaseRoute
from strawberry.fastapi import GraphQLRouter

from app.config import Settings
from app.db import Database
from app.http.endpoint import DirectEndpoint, sub_response
from app.main import create_app
from schema import build_schema
from schema.live import LiveRouter
from tests.conftest import serve
from tests.factories.stocks import make_stock

STOCK = '{ stock(symbol: "MSFT") { symbol name sentiment { compoundScore label } } }'
PREFLIGHT = {"apollo-require-preflight": "1"}

# (method, path, JSON body or query parameters, headers): what clients and attackers send.
REQUESTS: list[tuple[str, str, Any, dict[str, str]]] = [
    ("POST", "/graphql", {"query": STOCK}, {}),
    ("POST", "/graphql", {"query": "{ stock(symbol: 1) { symbol } }"}, {}),
    ("POST", "/graphql", {"query": "{ nope }"}, {}),
    ("POST", "/graphql", {"query": "{ nope }"}, {"accept": "application/graphql-response+json"}),
    ("POST", "/graphql", {"query": "query A { __typename }", "operationName": "B"}, {}),
    ("POST", "/graphql", {"query": "query A { __typename } query B { __typename }"}, {}),
    ("POST", "/graphql", {"query": "{ __typename", "variables": {"a": 1}}, {}),
    ("POST", "/graphql", {"query": "subscription { __typename }"}, {}),
    ("POST", "/graphql", {"query": STOCK}, {"authorization": "Bearer not-a-key"}),
    ("POST", "/graphql", {"query": STOCK}, {"authorization": "Basic abc"}),
    ("POST", "/graphql", [{"query": STOCK}], {}),
    ("POST", "/graphql", {"query": STOCK}, {"x-trace": "1"}),
    ("POST", "/graphql/", {"query": STOCK}, {}),
    ("GET", "/graphql", {"query": STOCK}, PREFLIGHT),
    ("GET", "/graphql", {"query": STOCK}, {}),
    ("GET", "/graphql", {"query": "mutation { __typename }"}, PREFLIGHT),
    ("GET", "/graphql", {}, {"accept": "text/html"}),
    ("GET", "/graphql", {}, {}),
    ("HEAD", "/graphql", {}, {}),
    ("DELETE", "/graphql", {}, {}),
]

VARYING_HEADERS = {"date", "x-trace-id", "server-timing"}


def without_endpoint(app: FastAPI) -> FastAPI:
    """The app as it was before the endpoint: every request through FastAPI's route."""
    app.user_middleware = [
        m for m in app.user_middleware if getattr(m, "cls", None) is not DirectEndpoint
    ]
    return app


def comparable(response: httpx.Response) -> tuple[int, dict[str, str], Any]:
    headers = {k: v for k, v in response.headers.items() if k not in VARYING_HEADERS}
    headers.pop("content-length", None)  # the budget's figures below may change the length
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return response.status_code, headers, response.content
    if isinstance(body, dict):
        # The budget refills with time: two apps charged the same differ only in what is left.
        status = body.get("extensions", {}).get("cost", {}).get("throttleStatus", {})
        status.pop("currentlyAvailable", None)
        body.get("extensions", {}).pop("tracing", None)
        for error in body.get("errors", []):
            error.get("extensions", {}).pop("errorId", None)
    return response.status_code, headers, body


async def send(http: httpx.AsyncClient, method: str, path: str, payload: Any, headers: Any) -> Any:
    if method == "POST":
        return await http.post(path, content=orjson.dumps(payload), headers={
            "content-type": "application/json", **headers})  # fmt: skip
    return await http.request(method, path, params=payload, headers=headers)


@pytest.mark.parametrize(("method", "path", "payload", "headers"), REQUESTS)
async def test_the_endpoint_answers_what_the_route_answers(
    db: Database,
    settings: Settings,
    method: str,
    path: str,
    payload: Any,
    headers: dict[str, str],
) -> None:
    async with db.sessionmaker.begin() as session:
        await make_stock(session, "MSFT", name="Microsoft Corporation")
    async with serve(create_app(settings)) as direct:
        answered = await send(direct, method, path, payload, headers)
    async with serve(without_endpoint(create_app(settings))) as routed:
        reference = await send(routed, method, path, payload, headers)
    assert comparable(answered) == comparable(reference)


async def test_executed_requests_need_no_route(db: Database, settings: Settings) -> None:
    """With FastAPI's GraphQL routes gone, GET and POST still execute: nothing of the route
    (its dependency solving, its exit stacks) runs for them. The WebSocket route still does."""
    async with db.sessionmaker.begin() as session:
        await make_stock(session, "MSFT", name="Microsoft Corporation")
    app = create_app(settings)
    graphql_routes: list[BaseRoute] = [
        r
        for r in app.router.routes
        # FastAPI 0.16x keeps an included router whole (`original_router`); older ones copied
        # its routes in.
        if isinstance(getattr(r, "original_router", None), LiveRouter)
        or getattr(r, "path", None) == "/graphql"
    ]
    assert graphql_routes
    app.router.routes[:] = [r for r in app.router.routes if r not in graphql_routes]
    async with serve(app) as http:
        posted = await http.post("/graphql", json={"query": STOCK})
        got = await http.get("/graphql", params={"query": STOCK}, headers=PREFLIGHT)
        page = await http.get("/graphql", headers={"accept": "text/html"})
    expected = {"symbol": "MSFT", "name": "Microsoft Corporation", "sentiment": None}
    assert posted.status_code == got.status_code == 200
    assert posted.json()["data"]["stock"] == got.json()["data"]["stock"] == expected
    assert page.status_code == 200 and "graphiql" in page.text.lower()


def test_the_body_is_encoded_once_into_strawberrys_bytes() -> None:
    """LiveRouter.create_response sends orjson's bytes; Strawberry's encoded the str its
    `encode_json` gave back to bytes: the same response, header for header."""
    router = LiveRouter(Settings(), build_schema(Settings()))
    data: Any = {"data": {"s": "Zürich ✓ \u2028", "n": [1, 2.5, None, True]}, "errors": []}
    for status in (None, 201):
        sub = sub_response()
        sub.status_code = status  # type: ignore[assignment]
        sub.headers["x-extra"] = "1"
        ours = router.create_response(data, sub)
        theirs = GraphQLRouter.create_response(router, data, sub)
        assert (ours.body, ours.status_code) == (theirs.body, theirs.status_code)
        assert ours.headers.raw == theirs.headers.raw
