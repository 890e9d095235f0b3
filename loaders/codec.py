"""Compact cache codecs for loader rows: JSON arrays of plain values, never pickled objects.

A row is stored as the list of its fields in declaration order; datetimes as ISO 8601 strings.
Each codec's `version` digests the shape it stores, so a changed row never reads an old value.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import fields
from datetime import datetime
from typing import Any, Generic, TypeVar

T = TypeVar("T")


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=3).hexdigest()


class RowCodec(Generic[T]):
    """A frozen dataclass row <-> a list of its field values."""

    def __init__(self, row_type: type[T]) -> None:
        self.row_type = row_type
        declared = fields(row_type)  # type: ignore[arg-type]
        self.names = [f.name for f in declared]
        self.datetimes = [i for i, f in enumerate(declared) if f.type in ("datetime", datetime)]
        shape = ",".join(f"{f.name}:{f.type}" for f in declared)
        self.version = _digest(f"{row_type.__name__}({shape})")

    def dump(self, value: T) -> list[Any]:
        return [getattr(value, name) for name in self.names]

    def load(self, data: Any) -> T:
        values = list(data)
        for i in self.datetimes:
            values[i] = datetime.fromisoformat(values[i])
        return self.row_type(*values)


class OptionalCodec(Generic[T]):
    def __init__(self, inner: RowCodec[T]) -> None:
        self.inner = inner
        self.version = inner.version

    def dump(self, value: T | None) -> Any:
        return None if value is None else self.inner.dump(value)

    def load(self, data: Any) -> T | None:
        return None if data is None else self.inner.load(data)


class ListCodec(Generic[T]):
    def __init__(self, inner: RowCodec[T]) -> None:
        self.inner = inner
        self.version = inner.version

    def dump(self, value: list[T]) -> Any:
        return [self.inner.dump(v) for v in value]

    def load(self, data: Any) -> list[T]:
        return [self.inner.load(v) for v in data]


class SequenceCodec(Generic[T]):
    """A frozen sequence of rows (its `rows`, a tuple), stored as a list of rows: unlike a list,
    one decoded value may serve every request (app/cache/core.py, `Decoded`)."""

    def __init__(self, sequence_type: Callable[..., T], inner: RowCodec[Any]) -> None:
        self.sequence_type = sequence_type
        self.inner = inner
        name = getattr(sequence_type, "__name__", "sequence")
        self.version = _digest(f"{name}[{inner.version}]")

    def dump(self, value: T) -> Any:
        return [self.inner.dump(r) for r in value.rows]  # type: ignore[attr-defined]

    def load(self, data: Any) -> T:
        return self.sequence_type(tuple(self.inner.load(r) for r in data))


class PageCodec(Generic[T]):
    """A page row: `rows` (a tuple of rows) and `has_next`."""

    def __init__(self, page_type: Callable[..., T], inner: RowCodec[Any]) -> None:
        self.page_type = page_type
        self.inner = inner
        self.version = _digest(f"{getattr(page_type, '__name__', 'page')}[{inner.version}]")

    def dump(self, value: T) -> Any:
        rows = value.rows  # type: ignore[attr-defined]
        return [bool(value.has_next), [self.inner.dump(r) for r in rows]]  # type: ignore[attr-defined]

    def load(self, data: Any) -> T:
        has_next, rows = data
        return self.page_type(tuple(self.inner.load(r) for r in rows), bool(has_next))
