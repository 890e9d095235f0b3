"""GraphQL over HTTP: each transport rule answers with its status and code, before any SQL."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from app.config import Settings
from app.db import Database
from app.http.limits import (
    GraphQLHTTPError,
    GraphQLHTTPRules,
    Receive,
    Scope,
    Send,
    _json_verdict,
    check_body,
    check_fields,
)
from tests.factories.stocks import make_stock
from tests.sqlcount import count_statements

QUERY = '{ stock(symbol: "AAPL") { symbol } }'
PREFLIGHT = {"apollo-require-preflight": "1"}


@pytest.fixture
async def stored(db: Database) -> Database:
    async with db.sessionmaker.begin() as session:
        await make_stock(session, "AAPL")
    return db


async def refused(
    client: httpx.AsyncClient, status: int, code: str, **request: object
) -> httpx.Response:
    with count_statements() as sql:
        response = await client.request(**request)  # type: ignore[arg-type]
    assert sql.count == 0
    assert response.status_code == status, response.text
    assert response.json()["errors"][0]["extensions"]["code"] == code
    return response


async def test_a_body_over_the_limit_is_413(stored: Database, client: httpx.AsyncClient) -> None:
    body = json.dumps({"query": QUERY, "variables": {"pad": "x" * 1_100_000}})
    response = await refused(
        client,
        413,
        "PAYLOAD_TOO_LARGE",
        method="POST",
        url="/graphql",
        content=body,
        headers={"content-type": "application/json"},
    )
    assert response.json()["errors"][0]["extensions"]["limit"] == Settings().limits_max_body_bytes


async def test_a_streamed_body_over_the_limit_is_413_without_content_length(
    stored: Database, client: httpx.AsyncClient
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"query": "' + b" " * 600_000
        yield b" " * 600_000 + b'"}'

    await refused(
        client,
        413,
        "PAYLOAD_TOO_LARGE",
        method="POST",
        url="/graphql",
        content=chunks(),
        headers={"content-type": "application/json"},
    )


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]
)
async def test_other_media_types_are_415(
    content_type: str, stored: Database, client: httpx.AsyncClient
) -> None:
    response = await refused(
        client,
        415,
        "UNSUPPORTED_MEDIA_TYPE",
        method="POST",
        url="/graphql",
        content=json.dumps({"query": QUERY}),
        headers={"content-type": content_type},
    )
    assert content_type in response.json()["errors"][0]["message"]


async def test_malformed_json_is_400(stored: Database, client: httpx.AsyncClient) -> None:
    response = await refused(
        client,
        400,
        "MALFORMED_JSON",
        method="POST",
        url="/graphql",
        content=b'{"query": "{ stock',
        headers={"content-type": "application/json"},
    )
    assert "not valid JSON" in response.json()["errors"][0]["message"]


async def test_a_json_batch_is_refused(stored: Database, client: httpx.AsyncClient) -> None:
    response = await refused(
        client,
        400,
        "BATCHING_NOT_SUPPORTED",
        method="POST",
        url="/graphql",
        json=[{"query": QUERY}, {"query": QUERY}],
    )
    assert "batch of 2" in response.json()["errors"][0]["message"]


async def test_variables_that_are_not_an_object_are_400(
    stored: Database, client: httpx.AsyncClient
) -> None:
    await refused(
        client,
        400,
        "BAD_REQUEST",
        method="POST",
        url="/graphql",
        json={"query": QUERY, "variables": [1, 2]},
    )


async def test_a_variable_of_the_wrong_type_is_a_clear_error(
    stored: Database, client: httpx.AsyncClient
) -> None:
    with count_statements() as sql:
        response = await client.post(
            "/graphql",
            json={
                "query": "query($first: Int!) { stocks(first: $first) { nodes { symbol } } }",
                "variables": {"first": "many"},
            },
        )
    assert sql.count == 0
    error = response.json()["errors"][0]
    assert error["message"] == (
        "Variable '$first' has invalid value: Int cannot represent non-integer value: 'many'"
    )
    assert error["extensions"]["code"] == "BAD_USER_INPUT"


async def test_a_mutation_over_get_is_405_with_allow(
    stored: Database, client: httpx.AsyncClient
) -> None:
    response = await refused(
        client,
        405,
        "METHOD_NOT_ALLOWED",
        method="GET",
        url="/graphql",
        params={"query": "mutation { __typename }"},
        headers=PREFLIGHT,
    )
    assert response.headers["allow"] == "POST"


async def test_a_get_query_needs_a_preflight_header(
    stored: Database, client: httpx.AsyncClient
) -> None:
    await refused(
        client, 400, "CSRF_PREVENTED", method="GET", url="/graphql", params={"query": QUERY}
    )
    response = await client.get("/graphql", params={"query": QUERY}, headers=PREFLIGHT)
    assert response.status_code == 200
    assert response.json()["data"] == {"stock": {"symbol": "AAPL"}}


async def test_graphql_response_media_type_gives_400_for_request_errors(
    stored: Database, client: httpx.AsyncClient
) -> None:
    accept = {"accept": "application/graphql-response+json, application/json;q=0.9"}
    ok = await client.post("/graphql", json={"query": QUERY}, headers=accept)
    assert ok.status_code == 200
    assert ok.headers["content-type"] == "application/graphql-response+json"
    assert ok.json()["data"] == {"stock": {"symbol": "AAPL"}}

    invalid = await client.post("/graphql", json={"query": "{ nope }"}, headers=accept)
    assert invalid.status_code == 400
    assert invalid.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert invalid.headers["content-type"] == "application/graphql-response+json"
    unparsable = await client.post("/graphql", json={"query": "{ stock("}, headers=accept)
    assert unparsable.status_code == 400
    assert unparsable.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"

    legacy = await client.post("/graphql", json={"query": "{ nope }"})
    assert legacy.status_code == 200
    assert legacy.headers["content-type"] == "application/json"


async def test_a_slow_operation_times_out_with_504() -> None:
    async def slow(scope: Scope, receive: Receive, send: Send) -> None:
        await asyncio.sleep(5)  # an operation that outlives its deadline

    rules = GraphQLHTTPRules(
        slow, path="/graphql", max_body_bytes=1024, max_tokens=100, timeout_s=0.05
    )
    transport = httpx.ASGITransport(app=rules)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.post("/graphql", json={"query": QUERY})
    assert response.status_code == 504
    assert response.json()["errors"][0]["extensions"] == {
        "code": "EXECUTION_TIMEOUT",
        "limit": 0.05,
    }


BODIES = [
    b'{"query": "{ a }"}',
    b'{"query": "{ a }", "variables": {"n": NaN}}',
    b'{"query": "{ a }", "variables": {"n": 123456789012345678901234567890}}',
    b'{"query": "{ a }", "variables": {"s": "\\ud800"}}',
    b'{"query": "{ a }", "query": 5}',
    b'{"query": "\xff"}',
    b"[" * 5000 + b"]" * 5000,
    b'[{"query": "{ a }"}]',
    b'{"query": "{ a }", "variables": [1]}',
    b'{"query": "{ a }", "operationName": 3}',
    b'{"query": "{ a }"',
    b'"just a string"',
]


def verdict(check: Callable[[], None]) -> tuple[int, str, dict[str, object]] | None:
    try:
        check()
    except GraphQLHTTPError as exc:
        return exc.status, str(exc), exc.extensions
    return None


@pytest.mark.parametrize("body", BODIES)
def test_the_fast_json_read_gives_json_s_verdict(body: bytes) -> None:
    fast = verdict(lambda: check_body(body))
    assert fast == verdict(lambda: check_fields(_json_verdict(body)))
