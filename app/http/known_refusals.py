"""Refuse an anonymous request whose document is refused already, before anything is built for it.

A document over the size or token limit, or one refused before (remembered with its refusal),
gets the same answer GraphQL would give, charged one point of the caller's budget, without the
context, the loaders, the extensions or a parse: an attacker repeating refused documents costs
the worker a look-up and a bucket take. Requests with an API key go the whole way (their key is
looked up there); so does anything not refused for certain.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

import orjson

from app.config import Settings
from app.http.limits import ASGIApp, Message, Receive, Scope, Send, replay
from app.monitoring.monitor import Monitor
from app.ratelimit import anonymous_client, throttled_refusal, tier_rate

Refusal = tuple[str, dict[str, Any]]
Check = Callable[[str], Refusal | None]


class KnownRefusals:
    def __init__(self, app: ASGIApp, *, path: str, settings: Settings, check: Check) -> None:
        self.app = app
        self.path = path.rstrip("/")
        self.settings = settings
        self.check = check

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["path"].rstrip("/") != self.path
            or _has_authorization(scope)
        ):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        query, receive = await self._query(scope, receive)
        refusal = self.check(query) if query is not None else None
        if refusal is None:
            await self.app(scope, receive, send)
            return
        await self._refuse(scope, send, refusal, started)

    async def _query(self, scope: Scope, receive: Receive) -> tuple[str | None, Receive]:
        """The request's query text (None if it has none), and a receive that replays the body."""
        if scope["method"] == "GET":
            params = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            return params.get("query", [None])[0], receive
        # The HTTP rules before this read the whole body and replay it as one message.
        message: Message = await receive()
        body = message.get("body", b"")
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            data = None  # json accepted it (a lone surrogate escape): GraphQL decides
        query = data.get("query") if isinstance(data, dict) else None
        return (query if isinstance(query, str) else None), replay(body)

    async def _refuse(self, scope: Scope, send: Send, refusal: Refusal, started: float) -> None:
        message, extensions = refusal
        status, headers = 200, [(b"content-type", b"application/json")]
        resources = scope["app"].state.resources
        client = scope.get("client")
        rate = tier_rate(self.settings, "anonymous")
        address = client[0] if client else "unknown"
        decision = await resources.buckets.take(anonymous_client(address), 1, rate)
        if not decision.allowed:
            message, extensions = throttled_refusal(1, decision)
            status = 429
            headers.append((b"retry-after", str(decision.retry_after_s).encode()))
        body = orjson.dumps({"errors": [{"message": message, "extensions": extensions}]})
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        monitor: Monitor | None = resources.monitor
        if monitor is not None:
            code = str(extensions.get("code"))
            monitor.record_operation("anonymous", time.perf_counter() - started, [code], None, ())


def _has_authorization(scope: Scope) -> bool:
    for name, _ in scope.get("headers", ()):
        if name == b"authorization":
            return True
    return False
