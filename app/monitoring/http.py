"""The `/metrics` endpoint: Prometheus text exposition of this worker (or of all workers).

With METRICS_TOKEN set it asks for `Authorization: Bearer <token>`; without one it is open in
development and not served (404) in production, where its figures would help an attacker.
"""

from __future__ import annotations

import hmac

from starlette.requests import Request
from starlette.responses import Response

from app.config import Settings


def authorized(request: Request, settings: Settings) -> bool | None:
    """True when the caller may read the metrics; None when they are not served at all."""
    if settings.metrics_token is None:
        return None if settings.is_production else True
    expected = f"Bearer {settings.metrics_token.get_secret_value()}".encode()
    given = request.headers.get("authorization", "").encode("latin-1", "replace")
    return hmac.compare_digest(given, expected)


async def metrics_endpoint(request: Request) -> Response:
    resources = request.app.state.resources
    allowed = authorized(request, resources.settings)
    if allowed is None:
        return Response("not found\n", status_code=404, media_type="text/plain")
    if not allowed:
        return Response(
            "metrics need 'Authorization: Bearer <METRICS_TOKEN>'\n",
            status_code=401,
            media_type="text/plain",
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    monitor = resources.monitor
    if monitor is None:
        return Response("metrics are not enabled\n", status_code=404, media_type="text/plain")
    monitor.sample()
    body, content_type = monitor.metrics.render()
    return Response(body, media_type=content_type)
