"""GraphQL over HTTP: the transport rules checked before Strawberry sees a request.

Body size (413), media type (415), JSON that parses (400) and is one object (no batching), GET for
queries only (405 with Allow), CSRF prevention in the style of Apollo's `csrfPrevention`, and the
`application/graphql-response+json` media type with its status codes. Every refusal is a GraphQL
error body with a stable `extensions.code`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

import orjson
from graphql import GraphQLError, OperationDefinitionNode, OperationType, parse
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app.text import unencodable_path

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

log = logging.getLogger("insitechart.errors")
GRAPHQL_RESPONSE = "application/graphql-response+json"
ALLOWED_METHODS = ("GET", "HEAD", "POST")
PREFLIGHT_HEADERS = ("x-apollo-operation-name", "apollo-require-preflight", "graphql-preflight")


class GraphQLHTTPError(Exception):
    """A request refused at the transport, answered as a GraphQL error body."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        headers: dict[str, str] | None = None,
        **details: Any,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers or {}
        self.extensions: dict[str, Any] = {"code": code, **details}

    def response(self) -> JSONResponse:
        body = {"errors": [{"message": str(self), "extensions": self.extensions}]}
        return JSONResponse(body, status_code=self.status, headers=self.headers)


async def graphql_http_error_handler(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, GraphQLHTTPError)
    return exc.response()


async def internal_error_handler(_: Request, exc: Exception) -> Response:
    """Anything unexpected outside GraphQL execution: masked, with an id that is in the log."""
    error_id = uuid.uuid4().hex[:16]
    log.error("unhandled error %s", error_id, exc_info=exc)
    refusal = GraphQLHTTPError(
        500, "INTERNAL_SERVER_ERROR", "Internal server error", errorId=error_id
    )
    return refusal.response()


def wants_graphql_response(headers: Headers) -> bool:
    """True when the client accepts the GraphQL response media type before plain JSON."""
    accept = headers.get("accept", "")
    types = [part.split(";")[0].strip().lower() for part in accept.split(",")]
    if GRAPHQL_RESPONSE not in types:
        return False
    return "application/json" not in types or types.index(GRAPHQL_RESPONSE) < types.index(
        "application/json"
    )


class GraphQLHTTPRules:
    def __init__(
        self,
        app: ASGIApp,
        *,
        path: str,
        max_body_bytes: int,
        max_tokens: int,
        timeout_s: float,
    ) -> None:
        self.app = app
        self.path = path.rstrip("/")
        self.max_body_bytes = max_body_bytes
        self.max_tokens = max_tokens
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].rstrip("/") != self.path:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        try:
            if scope["method"] not in ALLOWED_METHODS:
                raise GraphQLHTTPError(
                    405,
                    "METHOD_NOT_ALLOWED",
                    f"{scope['method'][:16]} is not supported; send GET (queries) or POST",
                    headers={"Allow": "GET, POST"},
                )
            if scope["method"] == "POST":
                receive = await self._check_post(headers, receive)
            elif scope["method"] == "GET":
                self._check_get(scope, headers)
        except GraphQLHTTPError as exc:
            await exc.response()(scope, receive, send)
            return
        if wants_graphql_response(headers):
            send = graphql_response_sender(send)
        await self._run(scope, receive, send)

    async def _run(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def tracking(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            async with asyncio.timeout(self.timeout_s):
                await self.app(scope, receive, tracking)
        except TimeoutError:
            if started:
                raise
            refusal = GraphQLHTTPError(
                504,
                "EXECUTION_TIMEOUT",
                f"the operation did not finish within {self.timeout_s:g} s",
                limit=self.timeout_s,
            )
            await refusal.response()(scope, receive, send)

    async def _check_post(self, headers: Headers, receive: Receive) -> Receive:
        media = headers.get("content-type", "").split(";")[0].strip().lower()
        if media != "application/json":
            # Also what keeps form posts (the CSRF vector) out: they are never executed.
            raise GraphQLHTTPError(
                415,
                "UNSUPPORTED_MEDIA_TYPE",
                f"POST bodies must be application/json, got {media or 'no Content-Type'}",
                accepted=["application/json"],
            )
        declared = headers.get("content-length")
        if (
            declared is not None
            and declared.isascii()
            and declared.isdigit()
            and int(declared) > self.max_body_bytes
        ):
            raise self._too_large(int(declared))
        body = await self._read(receive)
        check_body(body)
        return replay(body)

    def _too_large(self, size: int) -> GraphQLHTTPError:
        return GraphQLHTTPError(
            413,
            "PAYLOAD_TOO_LARGE",
            f"the request body is {size} bytes; the limit is {self.max_body_bytes}",
            limit=self.max_body_bytes,
        )

    async def _read(self, receive: Receive) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise self._too_large(size)
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    def _check_get(self, scope: Scope, headers: Headers) -> None:
        params = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        query = params.get("query", [None])[0]
        if query is None and "extensions" not in params:
            return  # GraphiQL's page, or Strawberry's own "no query" error
        # A persisted query's hash alone executes too: it needs the preflight header as well.
        if not any(name in headers for name in PREFLIGHT_HEADERS):
            raise GraphQLHTTPError(
                400,
                "CSRF_PREVENTED",
                "GET operations need a non-simple header such as 'apollo-require-preflight: 1' "
                "or 'x-apollo-operation-name', so a browser cannot send them cross-site",
            )
        for field in ("variables", "extensions"):
            raw = params.get(field, [None])[0]
            try:
                value = json.loads(raw) if raw is not None else None
            except (ValueError, RecursionError):
                continue  # Strawberry reports JSON it cannot read
            check_text({field: value})
        name = params.get("operationName", [None])[0]
        if (
            query is not None
            and operation_type(query, name, self.max_tokens) is OperationType.MUTATION
        ):
            raise mutation_over_get()


def mutation_over_get() -> GraphQLHTTPError:
    return GraphQLHTTPError(
        405,
        "METHOD_NOT_ALLOWED",
        "mutations are only accepted over POST",
        headers={"Allow": "POST"},
    )


def check_body(body: bytes) -> None:
    try:
        # orjson reads what it accepts as json does, ~5x faster; what it refuses (NaN, integers
        # past 64 bits, deep nesting, bad UTF-8) is read again by json, for json's verdict.
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        data = _json_verdict(body)
    check_fields(data)


def _json_verdict(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise GraphQLHTTPError(
            400, "MALFORMED_JSON", f"the request body is not valid JSON: {str(exc)[:200]}"
        ) from None
    except RecursionError:
        raise GraphQLHTTPError(
            400, "MALFORMED_JSON", "the request body nests too deeply to be read"
        ) from None


def check_fields(data: Any) -> None:
    if isinstance(data, list):
        raise GraphQLHTTPError(
            400,
            "BATCHING_NOT_SUPPORTED",
            f"send one operation per request; got a batch of {len(data)}",
        )
    if not isinstance(data, dict):
        raise GraphQLHTTPError(400, "BAD_REQUEST", "the request body must be a JSON object")
    variables = data.get("variables")
    if variables is not None and not isinstance(variables, dict):
        raise GraphQLHTTPError(
            400, "BAD_REQUEST", "'variables' must be a JSON object", field="variables"
        )
    extensions = data.get("extensions")
    if extensions is not None and not isinstance(extensions, dict):
        raise GraphQLHTTPError(
            400, "BAD_REQUEST", "'extensions' must be a JSON object", field="extensions"
        )
    persisted = extensions is not None and "persistedQuery" in extensions
    query = data.get("query")
    # An automatic persisted query may send its hash alone (app/http/response_cache.py resolves it).
    if not isinstance(query, str) and not (persisted and query is None):
        raise GraphQLHTTPError(400, "BAD_REQUEST", "'query' must be a string", field="query")
    name = data.get("operationName")
    if name is not None and not isinstance(name, str):
        raise GraphQLHTTPError(
            400, "BAD_REQUEST", "'operationName' must be a string", field="operationName"
        )
    check_text(data)


def check_text(request: dict[str, Any]) -> None:
    """Refuse a request whose query, operationName or variables hold a lone surrogate."""
    for field in ("query", "operationName", "variables", "extensions"):
        found = unencodable_path(request.get(field), field)
        if found is not None:
            raise GraphQLHTTPError(
                400,
                "BAD_USER_INPUT",
                f"{found}: holds a lone surrogate, which is not text",
                field=found,
            )


def operation_type(query: str, name: str | None, max_tokens: int) -> OperationType | None:
    try:
        document = parse(query, max_lexical_tokens=max_tokens, max_comments=max_tokens)
    except GraphQLError:
        return None  # Strawberry reports the syntax error
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    for op in operations:
        if name is None or (op.name is not None and op.name.value == name):
            return op.operation
    return None


def replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


def graphql_response_sender(send: Send) -> Send:
    """Answer in application/graphql-response+json: a request error (no data, no path) is 400."""
    start: Message | None = None
    chunks: list[bytes] = []

    async def sender(message: Message) -> None:
        nonlocal start
        if message["type"] == "http.response.start":
            start = message
            return
        if message["type"] != "http.response.body" or start is None:
            await send(message)
            return
        chunks.append(message.get("body", b""))
        if message.get("more_body", False):
            return
        await send(rewrite_start(start, b"".join(chunks)))
        await send({"type": "http.response.body", "body": b"".join(chunks)})

    return sender


def rewrite_start(start: Message, body: bytes) -> Message:
    headers = Headers(raw=start["headers"])
    if not headers.get("content-type", "").startswith("application/json"):
        return start
    status = start["status"]
    try:
        payload = json.loads(body)
    except ValueError:
        payload = None
    if (
        status == 200
        and isinstance(payload, dict)
        and payload.get("data") is None
        and payload.get("errors")
        and not any("path" in e for e in payload["errors"])
    ):
        status = 400
    raw = [(k, v) for k, v in start["headers"] if k.lower() != b"content-type"]
    raw.append((b"content-type", GRAPHQL_RESPONSE.encode()))
    return {**start, "status": status, "headers": raw}
