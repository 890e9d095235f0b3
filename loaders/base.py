"""What every loader shares: per-request environment, one session per batch, key-list SQL."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from aiodataloader import DataLoader
from sqlalchemy import ColumnElement, any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.types import TypeEngine

from app.db import Database
from app.monitoring.collector import loader_batch
from app.quotes import QuoteProvider, SimulatedProvider

K = TypeVar("K")
V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class LoaderEnv:
    """Everything a batch function may touch; one per request."""

    db: Database
    now: datetime
    quotes: QuoteProvider = field(default_factory=SimulatedProvider)


class Loader(DataLoader[K, V], Generic[K, V]):
    """A per-request DataLoader whose batch function runs one SQL statement per batch."""

    def __init__(self, env: LoaderEnv) -> None:
        super().__init__()
        self.env = env

    async def batch_load_fn(self, keys: list[K]) -> list[V]:
        with loader_batch(type(self).__name__, len(keys)):
            return await self.load_batch(keys)

    @abstractmethod
    async def load_batch(self, keys: Sequence[K]) -> list[V]:
        """Return one value per key, aligned with `keys` (None or empty for a miss)."""


def in_keys(
    column: ColumnElement[Any] | QueryableAttribute[Any],
    values: Sequence[Any],
    item_type: TypeEngine[Any],
    dialect: str,
) -> ColumnElement[bool]:
    """`column IN values` with one statement text whatever the number of values.

    On PostgreSQL this is `= ANY(:array)`, so asyncpg prepares the statement once; SQLite gets
    an expanding IN.
    """
    if dialect == "postgresql":
        return column == any_(bindparam(None, list(values), type_=ARRAY(item_type)))
    return column.in_(list(values))
