"""Strawberry's own HTTP refusals (plain text) as GraphQL error bodies with codes."""

from __future__ import annotations

from cross_web import HTTPException
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types.graphql import OperationType

from app.http.limits import GraphQLHTTPError, mutation_over_get

REASON_CHARS = 200  # a reason may quote the client's operationName


def coded_http_error(exc: HTTPException, method: str) -> GraphQLHTTPError:
    """The JSON refusal for a plain-text HTTPException raised by Strawberry's view."""
    cause = exc.__cause__
    reason = exc.reason[:REASON_CHARS]
    if isinstance(cause, InvalidOperationTypeError):
        if method == "GET" and cause.operation_type is OperationType.MUTATION:
            return mutation_over_get()
        return GraphQLHTTPError(400, "OPERATION_NOT_ALLOWED", reason)
    if isinstance(cause, CannotGetOperationTypeError):
        return GraphQLHTTPError(400, "BAD_REQUEST", reason, field="operationName")
    if exc.status_code == 405:
        return GraphQLHTTPError(405, "METHOD_NOT_ALLOWED", reason, headers={"Allow": "GET, POST"})
    code = "NOT_FOUND" if exc.status_code == 404 else "BAD_REQUEST"
    return GraphQLHTTPError(exc.status_code, code, reason)
