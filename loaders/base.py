"""What every loader shares: per-request environment, cache-aside, a connection per batch."""

from __future__ import annotations

import asyncio
import functools
import hashlib
from abc import abstractmethod
from asyncio import Future
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Generic, TypeVar

from aiodataloader import DataLoader, dispatch_queue
from aiodataloader import Loader as Queued
from sqlalchemy import ColumnElement, any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.types import TypeEngine

from app.cache import Cache, Codec
from app.db import Database
from app.monitoring.collector import loader_batch
from app.quotes import QuoteProvider, SimulatedProvider
from app.resources import Resources
from app.timeutil import floor_hour, utcnow

K = TypeVar("K")
V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class LoaderEnv:
    """Everything a batch function may touch; one per request."""

    db: Database
    now: datetime
    quotes: QuoteProvider = field(default_factory=SimulatedProvider)
    cache: Cache | None = None
    # The generation of every cache tag this request's values depend on
    # (app/http/response_cache.py).
    tags: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, resources: Resources, *, cached: bool = True) -> LoaderEnv:
        """The environment of one request (or one live event) of this process, read now.

        `cached=False` reads the database only: live events, whose nested fields must be as
        fresh as the event, and the naive benchmark baseline.
        """
        return cls(
            # The one place loaders get their database: a request reads a healthy replica
            # (app/replicas.py); a live event reads the primary, as fresh as the event.
            db=resources.reader() if cached else resources.db,
            now=utcnow(),
            quotes=resources.quotes,
            cache=resources.cache if cached else None,
        )


_UNSET: Any = object()


class Loader(DataLoader[K, V], Generic[K, V]):
    """A per-request DataLoader whose batch function runs one SQL statement per batch.

    With a cache, the batch function first reads every key in one round trip and runs the SQL
    for the misses only, then writes them back in one round trip (see app/cache/core.py).
    A subclass declares what it caches beside itself: `cache_type` (the TTL family, overridable
    by CACHE_TTL_OVERRIDES_S), `cache_ttl_s`, `cache_codec`, and the key's text in `cache_part`.
    """

    cache_type: ClassVar[str]
    cache_ttl_s: ClassVar[float]
    cache_codec: ClassVar[Codec[Any]]
    cache_stale_s: ClassVar[float] = 0.0  # served while a background load refreshes it
    # `load_shared` hands every caller of the request one future per key: asking a key early
    # (schema/compiled/prefetch.py) asks nothing twice.
    shares_loads: ClassVar[bool] = True

    def __init__(self, env: LoaderEnv) -> None:
        super().__init__()
        self.env = env
        self._related: list[tuple[Loader[Any, Any], Any, Any]] = []
        # Primed values not asked for yet, by cache key (`prime`).
        self._primed: dict[Any, V] = {}

    def prime(self, key: K, value: V) -> Loader[K, V]:
        """DataLoader.prime, its future made when the key is first asked for: a page primes the
        by-id loader with each of its rows, which a feed's 500 mentions rarely ask for again.
        As DataLoader's: a key already held keeps its value, an error is primed at once."""
        if isinstance(value, Exception):
            super().prime(key, value)
        else:
            self._primed.setdefault(self.get_cache_key(key), value)
        return self

    def _take_primed(self, key: K) -> None:
        cache_key = self.get_cache_key(key)
        value = self._primed.pop(cache_key, _UNSET)
        if value is not _UNSET and cache_key not in self._cache:
            super().prime(key, value)

    def clear(self, key: K) -> Loader[K, V]:
        self._primed.pop(self.get_cache_key(key), None)
        super().clear(key)
        return self

    def clear_all(self) -> Loader[K, V]:
        self._primed.clear()
        super().clear_all()
        return self

    def load(self, key: K) -> Future[V]:
        """The value of `key`, through a future of this caller's own while it is pending.

        The loader caches one future per key and hands it to every field that asks; graphql-core
        cancels a failed field's siblings, and cancelling the shared future would cancel the
        same value for every other field awaiting it (a CancelledError out of the request).
        A done future cannot be cancelled by its awaiter, so only pending ones are shielded.
        """
        if self._primed:
            self._take_primed(key)
        future = super().load(key)
        return future if future.done() else asyncio.shield(future)

    def do_resolve_reject(self, key: K, future: Future[V]) -> None:
        """DataLoader's: queue the load, and the first of a batch schedules its dispatch.

        aiodataloader schedules a task that schedules the batch's task, so the queue is taken two
        turns of the event loop after its first load. Here the same two turns pass, in the same
        order among other callbacks, without the first task (a coroutine and a task per batch).
        """
        self._queue.append(Queued(key=key, future=future))
        if len(self._queue) == 1:
            if self.batch:
                self.loop.call_soon(self.loop.call_soon, dispatch_queue, self)
            else:
                dispatch_queue(self)

    def load_shared(self, key: K) -> Future[V]:
        """The loader's own future of `key`, which every caller of the request shares: for a
        caller that never cancels it (the compiled plan's promises, schema/compiled/promise.py)."""
        if self._primed:
            self._take_primed(key)
        return super().load(key)

    async def batch_load_fn(self, keys: list[K]) -> list[V]:
        with loader_batch(type(self).__name__, len(keys)):
            if self.env.cache is None:
                return await self.load_batch(keys)
            return await self.env.cache.load_through(self, keys, self.env.tags)

    @abstractmethod
    async def load_batch(self, keys: Sequence[K]) -> list[V]:
        """Return one value per key, aligned with `keys` (None or empty for a miss)."""

    @abstractmethod
    def cache_part(self, key: K) -> str:
        """The key's part of the cache key: everything the value depends on except the data."""

    def cache_tag(self, key: K) -> str | None:
        """The generation tag (a stock, trending) whose bump makes this value stale."""
        return None

    def cache_ttl(self, key: K, value: V, base_s: float) -> float:
        return base_s

    def on_cached(self, key: K, value: V) -> None:
        """Called for a value read from the cache (prime related loaders here)."""

    def prime_related(self, loader: Loader[Any, Any], key: Any, value: Any) -> None:
        """Prime `loader` with a value this batch found, and cache it with this batch's write."""
        loader.prime(key, value)
        if self.env.cache is not None:
            self._related.append((loader, key, value))

    def take_related(self) -> list[tuple[Loader[Any, Any], Any, Any]]:
        related, self._related = self._related, []
        return related


def digest(*parts: object) -> str:
    """A short stable digest of key parts that may hold any text (search terms, cursors)."""
    return hashlib.blake2b(repr(parts).encode(), digest_size=10).hexdigest()


@functools.lru_cache(maxsize=256)
def hour_part(now: datetime) -> str:
    """The current UTC hour: values over a rolling window change when the hour does. Asked once
    per key of a batch, for the request's one `now`: remembered."""
    return str(int(floor_hour(now).timestamp()) // 3600)


# A loader builds each of its statements once per shape (dialect, filters present) with named
# parameters, and a batch only binds values: a statement built per batch left SQLAlchemy's
# memoised comparators and column collections in reference cycles, freed only by a full
# garbage collection (issue 19; bench/cycles.py). The keyed loaders' statements run on the lean
# read path (`Database.fetch`), compiled once for the driver.
KEYS = "keys"


def in_keys(
    column: ColumnElement[Any] | QueryableAttribute[Any],
    item_type: TypeEngine[Any],
    dialect: str,
) -> ColumnElement[bool]:
    """`column` among the values of the parameter `keys` (bind them with `{KEYS: list(keys)}`),
    with one statement text for any number of them: `= ANY(:keys)` with an array on PostgreSQL
    (prepared once by the driver), an expanding IN on SQLite.
    """
    if dialect == "postgresql":
        return column == any_(bindparam(KEYS, type_=ARRAY(item_type)))
    return column.in_(bindparam(KEYS, expanding=True))
