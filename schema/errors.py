"""The errors a client may see, each with a stable `extensions.code`; everything else is masked."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterator
from typing import Any

from graphql import GraphQLError, GraphQLSyntaxError
from strawberry.extensions import SchemaExtension

log = logging.getLogger("insitechart.errors")
SUGGESTION = re.compile(r"[\s;,]*Did you mean\b.*\Z", re.DOTALL)


class ApiError(Exception):
    """A domain error whose message and code are safe to show to the client."""

    code = "INTERNAL_SERVER_ERROR"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.extensions: dict[str, Any] = {"code": self.code, **details}


class BadUserInput(ApiError):
    code = "BAD_USER_INPUT"

    def __init__(self, field: str, message: str, **details: Any) -> None:
        super().__init__(f"{field}: {message}", field=field, **details)


class NotFound(ApiError):
    code = "NOT_FOUND"


class Forbidden(ApiError):
    code = "FORBIDDEN"


class UpstreamUnavailable(ApiError):
    """A value from an external service (a market quote) could not be had in time."""

    code = "UPSTREAM_UNAVAILABLE"


def check_range(field: str, value: int, low: int, high: int) -> int:
    if not low <= value <= high:
        raise BadUserInput(
            field, f"must be between {low} and {high}, got {value}", min=low, max=high
        )
    return value


class MaskInternalErrors(SchemaExtension):
    """Replace unexpected exceptions by "Internal server error" and an id that is also logged."""

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if result is None or not result.errors:
            return
        result.errors = [self._mask(error) for error in result.errors]

    @staticmethod
    def _mask(error: GraphQLError) -> GraphQLError:
        original = error.original_error
        coded = bool((error.extensions or {}).get("code"))
        request_error = error.path is None and (
            original is None or isinstance(original, GraphQLError)
        )
        if request_error and not coded:
            error.extensions = {**(error.extensions or {}), "code": request_error_code(error)}
        if original is None or isinstance(original, (ApiError, GraphQLError)):
            return error
        error_id = uuid.uuid4().hex[:16]
        log.error(
            "unhandled error %s at %s",
            error_id,
            ".".join(str(p) for p in error.path or ()),
            exc_info=original,
        )
        return GraphQLError(
            "Internal server error",
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            extensions={"code": "INTERNAL_SERVER_ERROR", "errorId": error_id},
        )


def request_error_code(error: GraphQLError) -> str:
    """Apollo's codes for the errors graphql-core raises without one."""
    if isinstance(error, GraphQLSyntaxError):
        return "GRAPHQL_PARSE_FAILED"
    if error.message.startswith("Variable '$"):
        return "BAD_USER_INPUT"
    return "GRAPHQL_VALIDATION_FAILED"


def strip_suggestions(error: GraphQLError) -> None:
    """Drop graphql-core's "Did you mean ...?" hints, which map the schema for a caller."""
    if "Did you mean" in error.message:
        error.message = SUGGESTION.sub("", error.message).rstrip() or "invalid document"


def is_client_error(error: GraphQLError) -> bool:
    """An error the caller caused (a code other than INTERNAL_SERVER_ERROR, or a document error)."""
    code = (error.extensions or {}).get("code")
    if code is not None:
        return bool(code != "INTERNAL_SERVER_ERROR")
    original = error.original_error
    return original is None or isinstance(original, (ApiError, GraphQLError))


def process_errors(errors: list[GraphQLError], production: bool) -> None:
    """In place of Strawberry's logger, which logs every error with a traceback and an excerpt.

    Client errors are one short debug line each (the operation's trace line counts them by
    code); unexpected ones are logged once, with their traceback, by MaskInternalErrors.
    """
    for error in errors:
        if production:
            strip_suggestions(error)
        if is_client_error(error):
            code = (error.extensions or {}).get("code") or request_error_code(error)
            log.debug("client error %s: %s", code, error.message[:200])
