"""The `/metrics` endpoint: Prometheus text exposition of this worker (or of all workers)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response


async def metrics_endpoint(request: Request) -> Response:
    monitor = request.app.state.resources.monitor
    if monitor is None:
        return Response("metrics are not enabled\n", status_code=404, media_type="text/plain")
    monitor.sample()
    body, content_type = monitor.metrics.render()
    return Response(body, media_type=content_type)
