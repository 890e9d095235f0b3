"""What a cache backend does: bytes in, bytes out, batched, never raising for its own trouble."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import orjson


class Backend(Protocol):
    """A store of bytes by key. Every call is one round trip, whatever the number of keys.

    A backend in trouble answers as if empty (misses, no leases, writes dropped); it never raises,
    so a cache outage degrades to the database instead of failing requests.
    """

    name: str

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]: ...

    async def set_many(
        self, items: Sequence[tuple[str, bytes, float]], delete: Sequence[str] = ()
    ) -> None:
        """Store (key, value, ttl_s) items and delete `delete` keys, in one round trip."""

    async def lease_many(self, keys: Sequence[str], ttl_ms: int) -> list[bool]:
        """Take a short exclusive lease on each key; False where another process holds it."""

    async def bump_many(self, keys: Sequence[str]) -> None:
        """Advance each generation counter (which never expires)."""

    async def get_current(
        self, key: str, generation_prefix: str, tag: str
    ) -> tuple[bytes | None, int]:
        """The value at `key` if it is current, and the generation of `tag`.

        A value is current when its first line is a JSON array whose first item lists
        `[tag, generation]` pairs and every one of those generations (under `generation_prefix`)
        is still the same; any other value is absent (None).
        """

    async def ping(self) -> bool: ...

    async def close(self) -> None: ...


def entry_tags(value: bytes) -> list[tuple[str, int]] | None:
    """The `[tag, generation]` pairs heading a tagged value (see Backend.get_current), or None."""
    head, newline, _ = value.partition(b"\n")
    if not newline:
        return None
    try:
        pairs = [(t, g) for t, g in orjson.loads(head)[0]]
    except (orjson.JSONDecodeError, TypeError, ValueError, IndexError, KeyError):
        return None
    if not all(isinstance(t, str) and isinstance(g, int) for t, g in pairs):
        return None
    return pairs
