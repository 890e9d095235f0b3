"""Refusals known from a document's text alone: remembered ones, its size, its token count.

`parse_document` remembers what it refused; `known_refusal` answers from that memory and from
the checks that need no parse, so the HTTP layer can refuse such a document before any context,
extension or parse is built for it (app/http/known_refusals.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from app.text import utf8_size
from schema.prescan import over_token_limit

Refusal = tuple[str, dict[str, Any]]
Key = tuple[str, int, int | None]
KEPT = 256  # refused documents remembered (the parse cache keeps accepted ones)

# Message and extensions only: an exception would keep its traceback's frames, and with them the
# request's context and loaders, alive.
_refusals: dict[Key, Refusal] = {}


def remember(key: Key, message: str, extensions: dict[str, Any] | None) -> None:
    _refusals[key] = (message, dict(extensions or {}))
    if len(_refusals) > KEPT:
        del _refusals[next(iter(_refusals))]


def recall(key: Key) -> Refusal | None:
    return _refusals.get(key)


def known_refusal(
    max_document_bytes: int, max_tokens: int, max_selections: int
) -> Callable[[str], Refusal | None]:
    """A check answering, without parsing, whether a document is refused, and how."""

    def check(query: str) -> Refusal | None:
        known = recall((query, max_tokens, max_selections))
        if known is not None:
            return known
        size = utf8_size(query)
        if size > max_document_bytes:
            message = f"the document is {size} bytes; the limit is {max_document_bytes}"
            extensions = {"code": "DOCUMENT_TOO_LARGE", "limit": max_document_bytes, "value": size}
            return message, extensions
        if over_token_limit(query, max_tokens) is not None:
            message = f"the document has more than {max_tokens} tokens"
            return message, {"code": "MAX_TOKENS_EXCEEDED", "limit": max_tokens}
        return None

    return check
