"""The parameters of a GraphQL-over-HTTP request (GET query string or POST JSON), rewritable."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

import orjson
from starlette.types import Message, Receive, Scope

MAX_BODY_BYTES = 1024 * 1024  # larger bodies pass through untouched (and uncached)


@dataclass(slots=True)
class GraphQLRequest:
    method: str
    params: dict[str, Any]
    body: bytes

    @property
    def query(self) -> str | None:
        query = self.params.get("query")
        return query if isinstance(query, str) and query else None

    @property
    def extensions(self) -> dict[str, Any]:
        extensions = self.params.get("extensions")
        return extensions if isinstance(extensions, dict) else {}

    def cache_material(self) -> bytes:
        """What makes two requests the same operation: document, variables, operation name."""
        variables = self.params.get("variables") or {}
        return orjson.dumps(
            [self.query, variables, self.params.get("operationName")],
            option=orjson.OPT_SORT_KEYS,
        )

    def with_query(self, scope: Scope, query: str) -> tuple[Scope, bytes]:
        """A copy of the request carrying `query`: a new scope and body to replay."""
        self.params["query"] = query
        if self.method == "GET":
            pairs = [
                (k, v if isinstance(v, str) else orjson.dumps(v).decode())
                for k, v in self.params.items()
                if v is not None
            ]
            return {**scope, "query_string": urlencode(pairs).encode()}, b""
        body = orjson.dumps(self.params)
        headers = [(k, v) for k, v in scope["headers"] if k != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        return {**scope, "headers": headers}, body


async def read_body(receive: Receive) -> tuple[bytes, list[Message]]:
    """The whole body (up to the limit) and the messages read, to replay them downstream."""
    messages: list[Message] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break
        size += len(message.get("body", b""))
        if not message.get("more_body", False) or size > MAX_BODY_BYTES:
            break
    return b"".join(m.get("body", b"") for m in messages if m["type"] == "http.request"), messages


def parse(scope: Scope, body: bytes, complete: bool) -> GraphQLRequest | None:
    """The request's GraphQL parameters, or None when it is not one this layer handles."""
    method = scope["method"]
    if method == "GET":
        params: dict[str, Any] = dict(parse_qsl(scope.get("query_string", b"").decode()))
        for name in ("variables", "extensions"):
            if name in params:
                try:
                    params[name] = orjson.loads(params[name])
                except orjson.JSONDecodeError:
                    return None
        return GraphQLRequest(method, params, b"")
    content_type = dict(scope["headers"]).get(b"content-type", b"")
    if method != "POST" or not complete or not content_type.startswith(b"application/json"):
        return None
    try:
        decoded = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(decoded, dict):
        return None
    return GraphQLRequest(method, decoded, body)


def replay(messages: list[Message], body: bytes | None, receive: Receive) -> Receive:
    """A receive that hands out `messages` again (or one message with `body`), then the rest."""
    pending = [{"type": "http.request", "body": body, "more_body": False}] if body else messages

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed
