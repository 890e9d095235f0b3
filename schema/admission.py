"""What a WebSocket `subscribe` must pass before anything runs: the checks HTTP requests pass.

In the same order and with the same codes: the message's shape (BAD_REQUEST), strings UTF-8 can
carry (BAD_USER_INPUT), document bytes (DOCUMENT_TOO_LARGE), tokens and field selections while
parsing (MAX_TOKENS_EXCEEDED, MAX_SELECTIONS_EXCEEDED), then validation with the shape limits
(cached with the document, as for HTTP). Each refusal is one GraphQL error with a code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    GraphQLError,
    GraphQLFormattedError,
    GraphQLSchema,
    GraphQLSyntaxError,
    NoSchemaIntrospectionCustomRule,
    specified_rules,
)

from app.text import has_lone_surrogate, unencodable_path, utf8_size
from schema.errors import request_error_code, strip_suggestions
from schema.limits import StaticLimits, limit_error, parse_document, shape_rule_for
from schema.validation import ValidatedDocuments


@dataclass(frozen=True, slots=True)
class Admitted:
    """A subscribe message that passed every check, with its parsed document."""

    query: str
    document: DocumentNode
    variables: dict[str, Any] | None
    operation_name: str | None


class SyntaxRefusal(Exception):
    """The document does not parse: the protocol closes the socket with 4400."""


def bad_request(field: str, message: str) -> GraphQLFormattedError:
    return {"message": f"{field}: {message}", "extensions": {"code": "BAD_REQUEST", "field": field}}


def coded(error: GraphQLError, production: bool) -> GraphQLFormattedError:
    if production:
        strip_suggestions(error)
    if not (error.extensions or {}).get("code"):
        error.extensions = {**(error.extensions or {}), "code": request_error_code(error)}
    return error.formatted


def admit(
    schema: GraphQLSchema, limits: StaticLimits, payload: Any, production: bool
) -> Admitted | list[GraphQLFormattedError]:
    """The admitted operation, or the errors refusing it; raise SyntaxRefusal if it won't parse."""
    if not isinstance(payload, dict):
        return [bad_request("payload", "must be a JSON object")]
    query, variables = payload.get("query"), payload.get("variables")
    name = payload.get("operationName")
    if not isinstance(query, str):
        return [bad_request("query", "must be a string")]
    if variables is not None and not isinstance(variables, dict):
        return [bad_request("variables", "must be a JSON object")]
    if name is not None and not isinstance(name, str):
        return [bad_request("operationName", "must be a string")]
    refusal = check_strings(query, variables, name)
    if refusal is not None:
        return [refusal]
    size = utf8_size(query)
    if size > limits.max_document_bytes:
        message = f"the document is {size} bytes; the limit is {limits.max_document_bytes}"
        error = limit_error("DOCUMENT_TOO_LARGE", message, limits.max_document_bytes, size)
        return [error.formatted]
    try:
        document = parse_document(query, limits.max_tokens, limits.max_selections)
    except GraphQLSyntaxError as exc:
        raise SyntaxRefusal(exc.message[:120]) from None
    except GraphQLError as exc:
        return [exc.formatted]
    rules = (*specified_rules, shape_rule_for(limits))
    if production:
        rules = (*rules, NoSchemaIntrospectionCustomRule)
    errors = ValidatedDocuments.validate(schema, document, rules)
    if errors:
        return [coded(e, production) for e in errors]
    return Admitted(query, document, variables, name)


def check_strings(
    query: str, variables: dict[str, Any] | None, name: str | None
) -> GraphQLFormattedError | None:
    """A BAD_USER_INPUT error for the first string UTF-8 cannot carry (a lone surrogate)."""
    field = "query" if has_lone_surrogate(query) else None
    if field is None and name is not None and has_lone_surrogate(name):
        field = "operationName"
    if field is None and variables is not None:
        field = unencodable_path(variables, "variables")
    if field is None:
        return None
    return {
        "message": f"{field}: holds a lone surrogate, which is not text",
        "extensions": {"code": "BAD_USER_INPUT", "field": field},
    }
