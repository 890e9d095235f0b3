"""Fields that are one loader's value for a key of their parent: declared once, read twice.

`Stock.sentiment` is the sentiment loader's row for the stock's id, made a `Sentiment`. Declared as
a `ByLoader`, its resolver is `spec.resolve` (what graphql-core runs), and the compiled plan reads
it without a coroutine when the loader already holds the value (a row primed by the page that
listed it, or loaded by a sibling): MentionFeed's 500 `stock` fields, each a coroutine, a shield
and a task before, complete in place (schema/compiled/fields.py, `run_loaded`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from loaders import Loaders
    from loaders.base import Loader

K = TypeVar("K")
R = TypeVar("R")
T = TypeVar("T")

SPEC = "__insitechart_by_loader__"


@dataclass(frozen=True, slots=True)
class ByLoader(Generic[K, R, T]):
    """The value is `build(loader(loaders).load(key(parent)))`."""

    loader: Callable[[Loaders], Loader[K, R]]
    key: Callable[[Any], K]
    build: Callable[[R], T]

    async def resolve(self, parent: Any, loaders: Loaders) -> T:
        return self.build(await self.loader(loaders).load(self.key(parent)))


def by_loader(spec: ByLoader[Any, Any, Any]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Mark a resolver whose whole work is `spec.resolve(self, info.context.loaders)`."""

    def mark(resolver: Callable[..., Any]) -> Callable[..., Any]:
        setattr(resolver, SPEC, spec)
        return resolver

    return mark


def spec_of(resolver: Any) -> ByLoader[Any, Any, Any] | None:
    spec = getattr(resolver, SPEC, None)
    return spec if isinstance(spec, ByLoader) else None
