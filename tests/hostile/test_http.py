"""Malformed and abusive HTTP requests against a production server: each gets its code and a
GraphQL-shaped body, no internal message, and /healthz answers meanwhile."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import httpx
import pytest

from tests.hostile.attacks import healthz_meanwhile
from tests.hostile.conftest import METRICS_TOKEN, Server

PREFLIGHT = {"apollo-require-preflight": "1"}
INGEST = "mutation { ingestMentions(mentions: []) { accepted } }"


async def post_raw(http: httpx.AsyncClient, server: Server, body: bytes) -> httpx.Response:
    headers = {"content-type": "application/json"}
    return await healthz_meanwhile(server.url, http.post("/graphql", content=body, headers=headers))


def error_of(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert "data" not in body, body
    (error,) = body["errors"]
    extensions: dict[str, Any] = error["extensions"]
    return extensions


@pytest.mark.parametrize("name", ['{"a": 1}', "[1, 2]", "7", "true"])
async def test_a_non_string_operation_name_is_a_400_naming_the_field(
    server: Server, http: httpx.AsyncClient, name: str
) -> None:
    body = b'{"query": "{ __typename }", "operationName": %s}' % name.encode()
    response = await post_raw(http, server, body)
    assert response.status_code == 400
    assert error_of(response) == {"code": "BAD_REQUEST", "field": "operationName"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"query": "{ stock(symbol: \\"\\ud800\\") { id } }"}', "query"),
        (
            b'{"query": "query($s: String!) { stock(symbol: $s) { id } }",'
            b' "variables": {"s": "a\\udfffb"}}',
            "variables.s",
        ),
        (b'{"query": "{ __typename }", "operationName": "\\ud800"}', "operationName"),
    ],
    ids=["query", "variables", "operation-name"],
)
async def test_a_lone_surrogate_is_a_400_bad_user_input(
    server: Server, http: httpx.AsyncClient, body: bytes, field: str
) -> None:
    response = await post_raw(http, server, body)
    assert response.status_code == 400
    assert error_of(response) == {"code": "BAD_USER_INPUT", "field": field}


async def test_json_nested_too_deep_is_malformed_json(
    server: Server, http: httpx.AsyncClient
) -> None:
    response = await post_raw(http, server, b"[" * 200_000)
    assert response.status_code == 400
    assert error_of(response)["code"] == "MALFORMED_JSON"


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "OPTIONS"])
async def test_other_methods_are_405_allowing_get_and_post(
    http: httpx.AsyncClient, method: str
) -> None:
    response = await http.request(method, "/graphql", json={"query": "{ __typename }"})
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"
    assert error_of(response)["code"] == "METHOD_NOT_ALLOWED"


async def test_a_persisted_query_over_get_needs_the_preflight_header(
    http: httpx.AsyncClient,
) -> None:
    query = "{ __typename }"
    digest = hashlib.sha256(query.encode()).hexdigest()
    extensions = persisted(digest)
    await http.post("/graphql", json={"query": query, "extensions": json.loads(extensions)})
    response = await http.get("/graphql", params={"extensions": extensions})
    assert response.status_code == 400
    assert error_of(response)["code"] == "CSRF_PREVENTED"
    allowed = await http.get("/graphql", params={"extensions": extensions}, headers=PREFLIGHT)
    assert allowed.json() == {"data": {"__typename": "Query"}, **_ext(allowed)}


async def test_a_persisted_mutation_over_get_is_405_allowing_post(
    http: httpx.AsyncClient,
) -> None:
    digest = hashlib.sha256(INGEST.encode()).hexdigest()
    extensions = persisted(digest)
    await http.post("/graphql", json={"query": INGEST, "extensions": json.loads(extensions)})
    response = await http.get("/graphql", params={"extensions": extensions}, headers=PREFLIGHT)
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert error_of(response)["code"] == "METHOD_NOT_ALLOWED"


@pytest.mark.parametrize(
    ("query", "code"),
    [("{ stock(", "GRAPHQL_PARSE_FAILED"), ("{ nope }", "GRAPHQL_VALIDATION_FAILED")],
)
async def test_parse_and_validation_failures_leave_data_out(
    http: httpx.AsyncClient, query: str, code: str
) -> None:
    response = await http.post("/graphql", json={"query": query})
    body = response.json()
    assert "data" not in body
    assert [e["extensions"]["code"] for e in body["errors"]] == [code]


@pytest.mark.parametrize(
    "query",
    [
        '{ stock(symbl: "AAPL") { id } }',  # argument
        "{ trendingStocks(window: DAYY) { rank } }",  # enum value
        '{ stock(symbol: "AAPL") { ...F } } fragment F on Stok { id }',  # type name
        '{ stock(symbol: "AAPL") { symbl } }',  # field
        "mutation { ingestMentions(mentions: [{txt: 1}]) { accepted } }",  # input field
        "query($w: TrendWindow!) { trendingStocks(window: $w) { rank } }",  # variable value
    ],
    ids=["argument", "enum", "type", "field", "input-field", "variable"],
)
async def test_production_makes_no_suggestions(http: httpx.AsyncClient, query: str) -> None:
    response = await http.post("/graphql", json={"query": query, "variables": {"w": "DAYY"}})
    text = response.text
    assert "errors" in response.json()
    assert "Did you mean" not in text
    assert "did you mean" not in text.lower()


async def test_every_response_has_security_headers_and_no_server_banner(
    http: httpx.AsyncClient,
) -> None:
    for response in (
        await http.get("/healthz"),
        await http.post("/graphql", json={"query": "{ __typename }"}),
        await http.get("/nowhere"),
    ):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        assert "server" not in response.headers


@pytest.mark.parametrize("path", ["/openapi.json", "/docs", "/redoc"])
async def test_production_serves_no_api_description(http: httpx.AsyncClient, path: str) -> None:
    assert (await http.get(path)).status_code == 404


async def test_metrics_need_the_token_in_production(http: httpx.AsyncClient) -> None:
    assert (await http.get("/metrics")).status_code == 401
    wrong = await http.get("/metrics", headers={"authorization": "Bearer nope"})
    assert wrong.status_code == 401
    right = await http.get("/metrics", headers={"authorization": f"Bearer {METRICS_TOKEN}"})
    assert right.status_code == 200
    assert "insitechart_graphql_request_duration_seconds" in right.text


def persisted(digest: str) -> str:
    return json.dumps({"persistedQuery": {"version": 1, "sha256Hash": digest}})


def _ext(response: httpx.Response) -> dict[str, Any]:
    extensions = response.json().get("extensions")
    return {"extensions": extensions} if extensions is not None else {}
