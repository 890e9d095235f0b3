"""Security headers on every HTTP response, and the Content-Security-Policy of the GraphiQL page.

The policies are the two constants below: GraphiQL's assets are served from the app's own origin
('self'); its inline boot script is allowed by its SHA-256 hash, computed from the page served.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# The GraphiQL page: its scripts, styles and fonts from this origin, its queries and
# subscriptions to this origin. `{inline}` becomes the hashes of the page's inline scripts.
GRAPHIQL_CSP = (
    "default-src 'none'; script-src 'self' {inline}; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
# Everything else is data: nothing in it may load or run anything, nor be framed.
API_CSP = "default-src 'none'; frame-ancestors 'none'"
API_CSP_HEADER = (b"content-security-policy", API_CSP.encode())
HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
)
API_HEADERS = (*HEADERS, API_CSP_HEADER)  # what an answer that is not a page gets, in this order
INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.DOTALL)


def page_csp(html: bytes) -> bytes:
    """GRAPHIQL_CSP with the hashes of `html`'s inline scripts."""
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(script).digest()).decode() + "'"
        for script in INLINE_SCRIPT.findall(html)
    )
    return GRAPHIQL_CSP.format(inline=hashes).encode()


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        chunks: list[bytes] = []

        async def sender(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", ()), *HEADERS]
                if not _is_html(headers):
                    headers.append(API_CSP_HEADER)
                    await send({**message, "headers": headers})
                    return
                start = {**message, "headers": headers}  # held until the page is hashed
                return
            if start is None or message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            body = b"".join(chunks)
            start["headers"].append((b"content-security-policy", page_csp(body)))
            await send(start)
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, sender)


def _is_html(headers: list[tuple[bytes, bytes]]) -> bool:
    for name, value in headers:
        if value.startswith(b"text/html") and name.lower() == b"content-type":
            return True
    return False
