"""GraphQL objects built once per loader value while the value lives.

The field cache hands one decoded value to request after request (app/cache/core.py, `Decoded`):
a feed's fifty mention pages. What the schema builds from such a value (a page's connection and
its mentions, schema/types.py) is kept beside it, weakly, and shared by every request that reads
it; a value read from SQL for one request is freed
with the request, and what was built from it with it. So nothing may change an object built here
once built: resolvers read them, and the executor builds its own results. Objects marked
`shared` also keep the values the executor completed from them: those depend on the object alone.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any, Generic, TypeVar

S = TypeVar("S")
T = TypeVar("T")


COMPLETED = "_insitechart_completed"  # a shared object's completed selections, by plan


def shared(value: T) -> T:
    """Mark an object built here as shared: the executor keeps on it what its selections of
    leaves complete to (schema/compiled/objects.py, `complete_shared`), for the next request."""
    object.__setattr__(value, COMPLETED, {})
    return value


class BuiltOnce(Generic[S, T]):
    """`build(source)`, once per live source object (a frozen row or page, weakly referable)."""

    def __init__(self, build: Callable[[S], T]) -> None:
        self.build = build
        self._held: dict[int, tuple[weakref.ref[Any], T]] = {}

    def __call__(self, source: S) -> T:
        key = id(source)
        held = self._held.get(key)
        if held is not None and held[0]() is source:
            return held[1]
        value = self.build(source)
        self._held[key] = (weakref.ref(source, self._forget(key)), value)
        return value

    def _forget(self, key: int) -> Callable[[weakref.ref[Any]], None]:
        held = self._held

        def forget(ref: weakref.ref[Any]) -> None:
            entry = held.get(key)
            if entry is not None and entry[0] is ref:
                del held[key]

        return forget

    def __len__(self) -> int:
        return len(self._held)
