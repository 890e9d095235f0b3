"""Cache-aside for loader batches: one read and one write round trip per batch, generation-tagged.

A value is stored as `[generation, fresh_until, data]`. Its generation is the counter of the tag
it depends on (a stock, or trending) read in the same MGET as the values: bumping the counter
after a write makes every dependent value stale on every worker without scanning keys.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import orjson

from app.cache.backend import Backend

log = logging.getLogger("insitechart.cache")

K = TypeVar("K")
V = TypeVar("V")
KC = TypeVar("KC", contravariant=True)
OnRecord = Callable[[str, str, int], None]
# Called with (type, event, count) for every hit, miss, stale hit, load, write and eviction.

_MISSING: Any = object()
FLIGHT_LINGER_S = 0.5
Related = tuple["Source[Any, Any]", Any, Any]


class Codec(Protocol[V]):
    """Turns a loader value into plain JSON data and back; `version` changes with its shape."""

    @property
    def version(self) -> str: ...

    def dump(self, value: V) -> Any: ...

    def load(self, data: Any) -> V: ...


class Source(Protocol[KC, V]):
    """What a loader declares so its batch function can be cached (see loaders/base.py)."""

    @property
    def cache_type(self) -> str: ...

    @property
    def cache_ttl_s(self) -> float: ...

    @property
    def cache_stale_s(self) -> float: ...

    @property
    def cache_codec(self) -> Codec[V]: ...

    def cache_part(self, key: KC) -> str: ...

    def cache_tag(self, key: KC) -> str | None: ...

    def cache_ttl(self, key: KC, value: V, base_s: float) -> float: ...

    def on_cached(self, key: KC, value: V) -> None: ...

    def take_related(self) -> Sequence[Related]:
        """Values of other (untagged) loaders found by the last load, to cache alongside."""
        ...

    async def load_batch(self, keys: Sequence[KC]) -> list[V]: ...


@dataclass(slots=True)
class TypeStats:
    hits: int = 0
    misses: int = 0
    stale: int = 0
    loads: int = 0
    writes: int = 0
    evictions: int = 0

    @property
    def hit_ratio(self) -> float:
        asked = self.hits + self.misses
        return self.hits / asked if asked else 0.0


MAX_KEPT_BLOB = 32 * 1024  # a larger value is decoded on each read (it is rarely read again)


class Decoded:
    """Stored values already decoded, by their exact bytes (and codec): the same blob read again
    (a feed's fifty mention pages, request after request) is not parsed and built again.

    Only the bytes decide: a value rewritten or bumped to a new generation arrives as other bytes,
    and the generation and freshness are checked on every read as before. Rows and pages are
    frozen, so one decoded value serves every request; a list (trending's) is decoded each time.
    Bounded by entries and by stored bytes, the oldest dropped first: a worker's memory stays
    flat whatever it reads (CACHE_DECODED_MAX_BYTES of stored bytes, about 7x that decoded, and
    about 10x with what requests completed from the objects built of them, which go with them:
    schema/built.py).
    """

    # Decoded values take about 7x their stored bytes (tracemalloc: StockDetail's values of all
    # 500 bench stocks, 1,660 of them, are 2.2 MB stored and 15.5 MB decoded); a feed's fifty
    # pages, stocks and sentiments are ~130 KB of stored bytes. CACHE_DECODED_MAX_BYTES bounds
    # the bytes (2 MiB by default: the soak grew +14% with it, +25% with 4 MiB, once completions
    # were kept, docs/BENCHMARKS.md step 12), and the entries are bounded by one per 512 of them.
    BYTES_PER_ENTRY = 512

    def __init__(self, max_bytes: int = 2 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self.max_entries = max(max_bytes // self.BYTES_PER_ENTRY, 1)
        self._values: dict[tuple[Any, bytes], tuple[Any, Any, float]] = {}
        self._bytes = 0
        self.parsed = 0  # blobs parsed and built (the others were known)

    def read(self, codec: Codec[Any], blob: bytes) -> tuple[Any, Any, float] | None:
        """(stored generation, value, fresh until), or None for bytes that do not read."""
        key = (codec, blob)
        known = self._values.get(key)
        if known is not None:
            return known
        self.parsed += 1
        try:
            stored_generation, fresh_until, data = orjson.loads(blob)
            known = (stored_generation, codec.load(data), float(fresh_until))
        except Exception:  # a value we cannot read is a miss, never an error
            log.debug("unreadable cache value ignored", exc_info=True)
            return None
        if not isinstance(known[1], list) and len(blob) <= min(self.max_bytes // 16, MAX_KEPT_BLOB):
            values = self._values
            while values and (
                len(values) >= self.max_entries or self._bytes + len(blob) > self.max_bytes
            ):
                oldest = next(iter(values))
                del values[oldest]
                self._bytes -= len(oldest[1])
            values[key] = known
            self._bytes += len(blob)
        return known

    def __len__(self) -> int:
        return len(self._values)


@dataclass(frozen=True, slots=True)
class CacheConfig:
    namespace: str = "insitechart"
    ttl_overrides_s: Mapping[str, float] | None = None
    lease_ms: int = 2000
    lease_wait_ms: int = 200
    decoded_max_bytes: int = 2 * 1024 * 1024  # CACHE_DECODED_MAX_BYTES


class Cache:
    def __init__(self, backend: Backend, config: CacheConfig, shared: bool) -> None:
        self.backend = backend
        self.config = config
        self.shared = shared  # several processes read the backend: take leases on misses
        self.stats: dict[str, TypeStats] = {}
        self.on_record: list[OnRecord] = []
        # Called with the tags once their generations moved (before `bump` returns): what this
        # process keeps beside the backend is dropped too (app/http/near_hits.py).
        self.on_bump: list[Callable[[Sequence[str]], None]] = []
        self._inflight: dict[str, asyncio.Future[Any]] = {}
        self._refreshing: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._decoded = Decoded(config.decoded_max_bytes)

    # --- keys and numbers ---

    def key(self, type_name: str, version: str, part: str) -> str:
        return f"{self.config.namespace}:v{version}:{type_name}:{part}"

    def generation_key(self, tag: str) -> str:
        return f"{self.config.namespace}:gen:{tag}"

    def ttl_s(self, type_name: str, default_s: float) -> float:
        overrides = self.config.ttl_overrides_s or {}
        return float(overrides.get(type_name, default_s))

    def record(self, type_name: str, event: str, count: int = 1) -> None:
        if count <= 0:
            return
        stats = self.stats.setdefault(type_name, TypeStats())
        setattr(stats, event, getattr(stats, event) + count)
        for hook in self.on_record:
            hook(type_name, event, count)

    def record_eviction(self, key: str) -> None:
        """Count an eviction against the type named in the key."""
        parts = key.split(":")
        self.record(parts[2] if len(parts) > 3 else "?", "evictions")

    # --- invalidation ---

    async def bump(self, tags: Sequence[str]) -> None:
        """Make every value that depends on one of `tags` stale, on every worker."""
        if tags:
            await self.backend.bump_many([self.generation_key(t) for t in sorted(set(tags))])
            for hook in self.on_bump:
                hook(tags)

    # --- cache-aside ---

    async def load_through(
        self,
        source: Source[K, V],
        keys: Sequence[K],
        seen: MutableMapping[str, int] | None = None,
    ) -> list[V]:
        """Values for `keys`, aligned: cached ones from one MGET, the rest from `source`.

        `seen` collects the generation of every tag read, by tag (the smallest if read twice):
        the values returned are at least that fresh, so the response cache tags a result with it.
        """
        type_name = source.cache_type
        version = source.cache_codec.version
        vkeys = [self.key(type_name, version, source.cache_part(k)) for k in keys]
        tags = [source.cache_tag(k) for k in keys]
        gkeys = sorted({self.generation_key(t) for t in tags if t is not None})
        raw = await self.backend.get_many([*vkeys, *gkeys])
        generations = {g: _as_int(v) for g, v in zip(gkeys, raw[len(vkeys) :], strict=True)}
        expected = [generations[self.generation_key(t)] if t is not None else 0 for t in tags]
        if seen is not None:
            for tag, generation in zip(tags, expected, strict=True):
                if tag is not None:
                    seen[tag] = min(seen.get(tag, generation), generation)

        results: list[V] = [_MISSING] * len(keys)
        missing: list[int] = []
        now = time.time()
        for i, blob in enumerate(raw[: len(vkeys)]):
            entry = self._decode(blob, expected[i], source.cache_codec)
            if entry is None:
                missing.append(i)
                continue
            value, fresh_until = entry
            results[i] = value
            source.on_cached(keys[i], value)
            if fresh_until < now:
                self.record(type_name, "stale")
                self._revalidate(source, keys[i], vkeys[i], expected[i])
        self.record(type_name, "hits", len(keys) - len(missing))
        self.record(type_name, "misses", len(missing))
        if missing:
            await self._fill(source, keys, vkeys, expected, missing, results)
        return results

    def _decode(
        self, blob: bytes | None, generation: int, codec: Codec[V]
    ) -> tuple[V, float] | None:
        if blob is None:
            return None
        read = self._decoded.read(codec, blob)
        if read is None:
            return None
        stored_generation, value, fresh_until = read
        if stored_generation != generation:
            return None
        return value, fresh_until

    def _encode(
        self, source: Source[K, V], key: K, value: V, generation: int
    ) -> tuple[bytes, float]:
        """The stored bytes and the backend TTL (fresh TTL plus the stale allowance)."""
        base = self.ttl_s(source.cache_type, source.cache_ttl_s)
        ttl = source.cache_ttl(key, value, base)
        data = [generation, time.time() + ttl, source.cache_codec.dump(value)]
        return orjson.dumps(data), ttl + source.cache_stale_s

    async def _fill(
        self,
        source: Source[K, V],
        keys: Sequence[K],
        vkeys: list[str],
        expected: list[int],
        missing: list[int],
        results: list[V],
    ) -> None:
        loop = asyncio.get_running_loop()
        waits: list[tuple[int, asyncio.Future[Any]]] = []
        own: list[int] = []
        flights = [f"{vkey}#{generation}" for vkey, generation in zip(vkeys, expected, strict=True)]
        for i in missing:
            pending = self._inflight.get(flights[i])
            if pending is not None:
                waits.append((i, pending))
                continue
            self._inflight[flights[i]] = loop.create_future()
            own.append(i)
        try:
            leased = await self._lease_or_wait(source, vkeys, expected, own, results)
            to_load = [i for i in own if results[i] is _MISSING]
            if to_load:
                loaded = await source.load_batch([keys[i] for i in to_load])
                self.record(source.cache_type, "loads", len(to_load))
                writes = []
                for i, value in zip(to_load, loaded, strict=True):
                    results[i] = value
                    blob, ttl = self._encode(source, keys[i], value, expected[i])
                    writes.append((vkeys[i], blob, ttl))
                writes.extend(self._related_writes(source))
                await self.backend.set_many(writes, delete=leased)
                self.record(source.cache_type, "writes", len(writes))
        except BaseException as exc:
            for i in own:
                self._settle(flights[i], exc=exc)
            raise
        for i in own:
            self._settle(flights[i], value=results[i])
        for i, pending in waits:
            results[i] = await pending
            source.on_cached(keys[i], results[i])

    def _related_writes(self, source: Source[K, V]) -> list[tuple[str, bytes, float]]:
        writes = []
        for other, key, value in source.take_related():
            if other.cache_tag(key) is not None:
                continue  # its generation was not read in this batch
            vkey = self.key(other.cache_type, other.cache_codec.version, other.cache_part(key))
            blob, ttl = self._encode(other, key, value, 0)
            writes.append((vkey, blob, ttl))
        return writes

    def _settle(self, flight: str, value: Any = None, exc: BaseException | None = None) -> None:
        """Resolve a load for its waiters.

        A loaded value lingers a moment under its (key, generation): a request whose MGET was
        answered just before the write landed finds it instead of loading again. That is as fresh
        as the backend: a bump changes the generation, hence the flight key.
        """
        future = self._inflight.get(flight)
        if future is None or future.done():
            return
        if exc is None:
            future.set_result(value)
            loop = asyncio.get_running_loop()
            loop.call_later(FLIGHT_LINGER_S, self._forget, flight, future)
            return
        del self._inflight[flight]
        future.set_exception(exc)
        future.add_done_callback(_retrieve)  # nobody else may be waiting; don't warn then

    def _forget(self, flight: str, future: asyncio.Future[Any]) -> None:
        if self._inflight.get(flight) is future:
            del self._inflight[flight]

    async def _lease_or_wait(
        self,
        source: Source[K, V],
        vkeys: list[str],
        expected: list[int],
        own: list[int],
        results: list[V],
    ) -> list[str]:
        """Across processes, one loads a missed key and the others wait a little for its value.

        Returns the lease keys taken (released with the write). Keys still missing after the
        wait are loaded here anyway: a lease bounds a stampede, it never blocks a request.
        """
        if not own or not self.shared or self.config.lease_ms <= 0:
            return []
        lease_keys = [f"{vkeys[i]}:lease" for i in own]
        taken = await self.backend.lease_many(lease_keys, self.config.lease_ms)
        others = [i for i, t in zip(own, taken, strict=True) if not t]
        deadline = time.monotonic() + self.config.lease_wait_ms / 1000
        step = max(self.config.lease_wait_ms / 8000, 0.005)
        while others and time.monotonic() < deadline:
            await asyncio.sleep(step)
            raw = await self.backend.get_many([vkeys[i] for i in others])
            still = []
            for i, blob in zip(others, raw, strict=True):
                entry = self._decode(blob, expected[i], source.cache_codec)
                if entry is None:
                    still.append(i)
                    continue
                results[i] = entry[0]
                self.record(source.cache_type, "hits")
            others = still
        return [k for k, t in zip(lease_keys, taken, strict=True) if t]

    # --- stale-while-revalidate ---

    def _revalidate(self, source: Source[K, V], key: K, vkey: str, generation: int) -> None:
        """Serve the stale value now; refresh it in the background, once per process."""
        if vkey in self._refreshing:
            return
        self._refreshing.add(vkey)
        task = asyncio.get_running_loop().create_task(self._refresh(source, key, vkey, generation))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _refresh(self, source: Source[K, V], key: K, vkey: str, generation: int) -> None:
        try:
            lease = f"{vkey}:lease"
            if (
                self.shared
                and not (await self.backend.lease_many([lease], self.config.lease_ms))[0]
            ):
                return
            (value,) = await source.load_batch([key])
            self.record(source.cache_type, "loads")
            blob, ttl = self._encode(source, key, value, generation)
            await self.backend.set_many([(vkey, blob, ttl)], delete=[lease] if self.shared else [])
            self.record(source.cache_type, "writes")
        except Exception:
            log.exception("background refresh of %s failed", vkey)
        finally:
            self._refreshing.discard(vkey)

    async def drain(self) -> None:
        """Wait for the background refreshes under way."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.backend.close()


def _as_int(blob: bytes | None) -> int:
    return int(blob) if blob else 0


def _retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()
