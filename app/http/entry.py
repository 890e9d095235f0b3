"""How a shared response is stored: a JSON head, a newline, the body without the caller's cost,
then the body's head (all but its closing brace) compressed once for each coding offered.

The head is `[tags with generations, expiry, ETag, requested cost, operation, crc, size,
brotli_size]`: `crc` is the gzip CRC-32 of the body's `size` head bytes, null without a deflated
head; `brotli_size` is the length of the brotli head at the end, 0 without one. So the stored
bytes are `body`, then the deflated head (if any), then the brotli head (if any). An entry
written before brotli (seven fields) reads as one without a brotli head.
"""

from __future__ import annotations

import functools

import orjson

from app.http.compression import Deflated

# Entry head lines remembered once read (`_head`): every entry of a busy worker is hit again and
# again (StockDetail alone has one per stock: 500 in the bench); a line is ~150 bytes, up to
# ~2 KB with fifty tags (StockList), so at most ~2 MB are kept.
HEADS_KEPT = 1024


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


Tags = tuple[tuple[str, int], ...]
Entry = tuple[Tags, float, str, int, str, bytes, Deflated | None, bytes | None]


def entries_prefix(namespace: str) -> str:
    """What every response-cache entry's key starts with (its schema's version follows)."""
    return f"{namespace}:resp:"


def encode(
    tags: list[tuple[str, int]],
    expires: float,
    etag: str,
    requested: int,
    operation: str,
    body: bytes,
    deflated: Deflated | None,
    brotli: bytes | None,
) -> bytes:
    crc = deflated.crc if deflated is not None else None
    brotli = brotli or b""
    head = [tags, expires, etag, requested, operation, crc, len(body) - 1, len(brotli)]
    gzip = deflated.data if deflated is not None else b""
    return orjson.dumps(head) + b"\n" + body + gzip + brotli


def decode(raw: bytes | None) -> Entry | None:
    """A stored entry: its tags with their generations, expiry, ETag, cost, operation, body,
    and the body's head deflated for gzip answers and compressed for brotli ones (each None when
    the entry has none: too small, not offered, or written before brotli)."""
    if raw is None:
        return None
    newline = raw.find(b"\n")
    if newline < 0:
        return None
    parsed = _head(raw[:newline])
    if parsed is None:
        return None  # unreadable, or in an unknown format: a miss that rewrites it
    head, crc, size, brotli_size = parsed
    start, end = newline + 1, len(raw) - brotli_size
    if not start <= end <= len(raw) or (crc is not None and not start + size < end):
        return None
    brotli = raw[end:] if brotli_size else None
    if crc is None:
        return (*head, raw[start:end], None, brotli)
    body_end = start + size + 1
    return (*head, raw[start:body_end], Deflated(raw[body_end:end], crc, size), brotli)


Head = tuple[Tags, float, str, int, str]


@functools.lru_cache(maxsize=HEADS_KEPT)
def _head(line: bytes) -> tuple[Head, int | None, int, int] | None:
    """An entry's head line read: (tags, expiry, ETag, cost, operation), crc, size, brotli
    size. Remembered by its bytes: every hit of an entry reads the same line (StockList's holds
    fifty tags), and nothing in it depends on the caller."""
    try:
        tags, expires, etag, requested, operation, crc, size, *rest = orjson.loads(line)
        pairs = tuple((str(tag), int(generation)) for tag, generation in tags)
        (brotli_size,) = rest or [0]  # an entry written before brotli has no such field
        crc = None if crc is None else int(crc)
        head = (pairs, float(expires), str(etag), int(requested), str(operation))
        return head, crc, int(size), int(brotli_size)
    except (orjson.JSONDecodeError, ValueError, TypeError):
        return None
