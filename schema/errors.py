"""The errors a client may see, each with a stable `extensions.code`; everything else is masked."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterator
from typing import Any

from graphql import GraphQLError, GraphQLSyntaxError
from strawberry.extensions import SchemaExtension

from app.dbfaults import MESSAGES, RETRY_AFTER_S, UNAVAILABLE, LogLimiter, classify

log = logging.getLogger("insitechart.errors")
# One limiter per process: during an outage every request fails the same way.
FAULT_LOG = LogLimiter()
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


class CursorExpired(ApiError):
    """An `after` cursor of an event older than the retention window: resubscribe without it."""

    code = "CURSOR_EXPIRED"


class UpstreamUnavailable(ApiError):
    """A value from an external service (a market quote) could not be had in time."""

    code = "UPSTREAM_UNAVAILABLE"


class RetryLater(ApiError):
    """A database fault the client may retry: SERVICE_UNAVAILABLE, TIMEOUT or RETRYABLE."""

    def __init__(self, code: str) -> None:
        self.code = code
        self.retry_after_s = RETRY_AFTER_S[code]
        super().__init__(MESSAGES[code], retryAfter=self.retry_after_s)


def retry_later(exc: BaseException) -> RetryLater | None:
    """The client-facing form of a database fault, or None for any other exception."""
    code = classify(exc)
    if code not in MESSAGES:
        return None
    if FAULT_LOG.allow():
        log.error("database %s: %s", code, type(exc).__name__)
    return RetryLater(code)


class DropDatabaseFaults(logging.Filter):
    """Keep the GraphQL library's per-error log lines for database faults out of the log.

    Strawberry logs every error of a result, with its traceback; during an outage that is one
    traceback per failing resolver. MaskInternalErrors logs one line per operation instead.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.msg
        if not isinstance(error, GraphQLError) or error.original_error is None:
            return True
        original = error.original_error
        return not isinstance(original, RetryLater) and classify(original) not in MESSAGES


def drop_database_fault_logs() -> None:
    """Install DropDatabaseFaults on Strawberry's error logger, once per process."""
    logger = logging.getLogger("strawberry.execution")
    if not any(isinstance(f, DropDatabaseFaults) for f in logger.filters):
        logger.addFilter(DropDatabaseFaults())


def check_range(field: str, value: int, low: int, high: int) -> int:
    if not low <= value <= high:
        raise BadUserInput(
            field, f"must be between {low} and {high}, got {value}", min=low, max=high
        )
    return value


class MaskInternalErrors(SchemaExtension):
    """Replace unexpected exceptions by "Internal server error" and an id that is also logged.

    A database fault (unreachable, timed out, in conflict) is a retryable code instead, logged
    once per operation rather than once per failing resolver, with bursts rate-limited.
    """

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if result is None or not result.errors:
            return
        faults: list[str] = []
        result.errors = self.mask_all(result.errors, faults)
        if faults:
            self._answer_fault(faults, result.data is None)

    @classmethod
    def mask_all(cls, errors: list[GraphQLError], faults: list[str]) -> list[GraphQLError]:
        """Errors fit for a client; the codes of database faults among them go to `faults`.

        Also for results that bypass this extension (each event of a live subscription).
        """
        return [cls._fault(error, faults) or cls._mask(error) for error in errors]

    @staticmethod
    def _fault(error: GraphQLError, faults: list[str]) -> GraphQLError | None:
        original = error.original_error
        if isinstance(original, RetryLater):
            faults.append(original.code)
            return error
        if original is None or isinstance(original, (ApiError, GraphQLError)):
            return None
        code = classify(original)
        if code not in MESSAGES:
            return None
        if not faults and FAULT_LOG.allow():
            where = ".".join(str(p) for p in error.path or ())
            log.error("database %s at %s: %s", code, where, type(original).__name__)
        faults.append(code)
        return GraphQLError(
            MESSAGES[code],
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            extensions={"code": code, "retryAfter": RETRY_AFTER_S[code]},
        )

    def _answer_fault(self, codes: list[str], no_data: bool) -> None:
        response = getattr(self.execution_context.context, "response", None)
        if response is None:
            return
        response.headers["Retry-After"] = str(max(RETRY_AFTER_S[c] for c in codes))
        if UNAVAILABLE in codes or no_data:
            response.status_code = 503

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
