"""How a shared response is stored: a JSON head (tags and generations, expiry, ETag, requested
cost, operation, gzip trailer), a newline, the body without the caller's cost, and the body's head
deflated once for gzip answers."""

from __future__ import annotations

import orjson

from app.http.compression import Deflated


def without_cost(body: bytes) -> tuple[bytes, int] | None:
    """The body without the caller's `extensions.cost` (`{"data":...}`), and the requested cost
    it reported; None when it holds other extensions, which a hit could not complete."""
    document = orjson.loads(body)
    if not isinstance(document, dict):
        return None
    extensions = document.pop("extensions", {})
    cost = extensions.pop("cost", None) if isinstance(extensions, dict) else None
    if extensions:
        return None
    requested = cost.get("requestedQueryCost", 0) if isinstance(cost, dict) else 0
    return orjson.dumps(document), int(requested)


Entry = tuple[list[tuple[str, int]], float, str, int, str, bytes, Deflated | None]


def decode(raw: bytes | None) -> Entry | None:
    """A stored entry: its tags with their generations, expiry, ETag, cost, operation, body,
    and the body's head deflated for gzip answers (None when it was too small)."""
    if raw is None:
        return None
    head, _, stored = raw.partition(b"\n")
    try:
        tags, expires, etag, requested, operation, crc, size = orjson.loads(head)
        pairs = [(str(tag), int(generation)) for tag, generation in tags]
    except (orjson.JSONDecodeError, ValueError, TypeError):
        return None  # unreadable, or written by an older version: a miss that rewrites it
    body, deflated = stored, None
    if crc is not None:
        body, deflated = stored[: size + 1], Deflated(stored[size + 1 :], int(crc), int(size))
    return pairs, float(expires), str(etag), int(requested), str(operation), body, deflated
