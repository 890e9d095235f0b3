"""Opaque, versioned cursors; anything a client sends back is decoded defensively."""

from __future__ import annotations

import base64
import binascii
import re
from datetime import UTC, datetime
from typing import Any

import orjson

from schema.errors import BadUserInput

MAX_CURSOR_LENGTH = 200
MAX_ID = 2**63 - 1  # a PostgreSQL bigint
# What a stock cursor may hold: a stored symbol (the symbol rule of schema/query.py).
CURSOR_SYMBOL = re.compile(r"[A-Z0-9][A-Z0-9.\-]{0,15}")


def encode(kind: str, *parts: Any) -> str:
    raw = orjson.dumps([1, kind, *parts])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(field: str, cursor: str, kind: str) -> list[Any]:
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise BadUserInput(field, f"cursor is longer than {MAX_CURSOR_LENGTH} characters")
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = orjson.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, UnicodeEncodeError, binascii.Error, orjson.JSONDecodeError):
        raise BadUserInput(field, "is not a valid cursor") from None
    if not isinstance(data, list) or len(data) < 2 or data[0] != 1 or data[1] != kind:
        raise BadUserInput(field, "is not a cursor of this list")
    return data[2:]


def encode_mention(published_at: datetime, mention_id: int) -> str:
    return encode("m", published_at.isoformat(), mention_id)


def decode_mention(field: str, cursor: str) -> tuple[datetime, int]:
    parts = _decode(field, cursor, "m")
    try:
        published_at = datetime.fromisoformat(parts[0])
        mention_id = parts[1]
    except (IndexError, TypeError, ValueError):
        raise BadUserInput(field, "is not a valid cursor") from None
    # `type(...) is int`: JSON `true` is a Python bool, which isinstance() takes for an int.
    if published_at.tzinfo is None or type(mention_id) is not int or len(parts) != 2:
        raise BadUserInput(field, "is not a valid cursor")
    if not 1 <= mention_id <= MAX_ID:
        raise BadUserInput(field, "is not a valid cursor")
    try:
        # 0001-01-01T00:00:00+14:00 is before year 1 in UTC: no database column holds it.
        published_at = published_at.astimezone(UTC)
    except OverflowError:
        raise BadUserInput(field, "is not a valid cursor") from None
    return published_at, mention_id


def encode_stock(symbol: str) -> str:
    return encode("s", symbol)


def decode_stock(field: str, cursor: str) -> str:
    parts = _decode(field, cursor, "s")
    if len(parts) != 1 or not isinstance(parts[0], str) or not CURSOR_SYMBOL.fullmatch(parts[0]):
        raise BadUserInput(field, "is not a valid cursor")
    return parts[0]


def encode_event(cursor: int) -> str:
    return encode("e", cursor)


def decode_event(field: str, cursor: str) -> int:
    parts = _decode(field, cursor, "e")
    if len(parts) != 1 or not isinstance(parts[0], int) or isinstance(parts[0], bool):
        raise BadUserInput(field, "is not a valid cursor")
    if parts[0] < 1:
        raise BadUserInput(field, "is not a valid cursor")
    return int(parts[0])
