"""GET and POST /graphql handed straight to the GraphQL view, past FastAPI's router.

FastAPI's route for them does four things: it builds the request, solves the context
dependency, hands the view a sub-response for headers, and runs the view, answering a
`GraphQLHTTPError` from either with its own body. This does the same four, without the route
matching, the dependency solving (signature walks, a sub-dependency per parameter) and the
exit stacks around every call: about a tenth of the CPU of a small executed request (issue 18).
WebSockets, HEAD, other paths and other methods go on to the app.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from starlette._utils import get_route_path
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from app.http.limits import GraphQLHTTPError


class View(Protocol):
    """Strawberry's FastAPI router: its view's `run`, and the sub-response it reads back."""

    temporal_response: Response

    async def run(self, request: Any, context: Any, root_value: Any) -> Any: ...


class ContextParts(Protocol):
    """What Strawberry's dependency sets on a `BaseContext` before the view runs."""

    request: Any
    response: Any
    background_tasks: Any


def sub_response() -> Response:
    """The response FastAPI hands a route's `Response` parameter: no status, no headers."""
    response = Response()
    del response.headers["content-length"]
    response.status_code = None  # type: ignore[assignment]  # as FastAPI's: "not set"
    return response


class DirectEndpoint:
    def __init__(
        self,
        app: ASGIApp,
        *,
        path: str,
        view: View,
        context_getter: Callable[[Request], Awaitable[ContextParts]],
    ) -> None:
        self.app = app
        self.path = path
        self.view = view
        self.context_getter = context_getter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] not in ("GET", "POST")
            or get_route_path(scope) != self.path
        ):
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive, send)
        try:
            context = await self.context_getter(request)
            sub = sub_response()
            context.request, context.response, context.background_tasks = request, sub, None
            self.view.temporal_response = sub  # read by the view before it first waits
            response = await self.view.run(request=request, context=context, root_value=None)
        except GraphQLHTTPError as exc:
            response = exc.response()
        await response(scope, receive, send)
