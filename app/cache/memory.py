"""The in-process backend: an LRU bounded by entries and bytes, for when REDIS_URL is unset."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Sequence

from app.cache.backend import entry_tags

Clock = Callable[[], float]
OnEvict = Callable[[str], None]


class MemoryBackend:
    """Values expire by TTL and are evicted least recently used first past either bound.

    Generation counters live apart from the LRU: evicting one would make stale values current.
    """

    name = "memory"

    def __init__(
        self,
        max_entries: int,
        max_bytes: int,
        clock: Clock = time.monotonic,
        on_evict: OnEvict | None = None,
    ) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.clock = clock
        self.on_evict = on_evict
        self.bytes = 0
        self._values: OrderedDict[str, tuple[bytes, float]] = OrderedDict()
        self._generations: dict[str, int] = {}
        self._leases: dict[str, float] = {}

    def __len__(self) -> int:
        return len(self._values)

    def _get(self, key: str, now: float) -> bytes | None:
        generation = self._generations.get(key)
        if generation is not None:
            return str(generation).encode()
        item = self._values.get(key)
        if item is None:
            return None
        value, expires = item
        if expires <= now:
            self._drop(key)
            return None
        self._values.move_to_end(key)
        return value

    def _drop(self, key: str) -> None:
        value, _ = self._values.pop(key)
        self.bytes -= len(key) + len(value)

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        now = self.clock()
        return [self._get(key, now) for key in keys]

    async def get_current(
        self, key: str, generation_prefix: str, tag: str
    ) -> tuple[bytes | None, int]:
        generation = self._generations.get(generation_prefix + tag, 0)
        value = self._get(key, self.clock())
        if value is None:
            return None, generation
        pairs = entry_tags(value)
        if pairs is None:
            return None, generation
        current = all(self._generations.get(generation_prefix + t, 0) == g for t, g in pairs)
        return (value if current else None), generation

    async def set_many(
        self, items: Sequence[tuple[str, bytes, float]], delete: Sequence[str] = ()
    ) -> None:
        now = self.clock()
        for key in delete:
            self._leases.pop(key, None)
            if key in self._values:
                self._drop(key)
        for key, value, ttl_s in items:
            size = len(key) + len(value)
            if size > self.max_bytes:
                continue
            if key in self._values:
                self._drop(key)
            self._values[key] = (value, now + ttl_s)
            self.bytes += size
        self._evict()

    def _evict(self) -> None:
        while self._values and (
            len(self._values) > self.max_entries or self.bytes > self.max_bytes
        ):
            key = next(iter(self._values))
            self._drop(key)
            if self.on_evict is not None:
                self.on_evict(key)

    async def lease_many(self, keys: Sequence[str], ttl_ms: int) -> list[bool]:
        now = self.clock()
        taken = []
        for key in keys:
            if self._leases.get(key, 0.0) > now:
                taken.append(False)
                continue
            self._leases[key] = now + ttl_ms / 1000
            taken.append(True)
        return taken

    async def bump_many(self, keys: Sequence[str]) -> None:
        for key in keys:
            self._generations[key] = self._generations.get(key, 0) + 1

    def clear(self) -> None:
        """Forget every value, generation and lease (benchmarks start cold with it)."""
        self._values.clear()
        self._generations.clear()
        self._leases.clear()
        self.bytes = 0

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        self._values.clear()
        self.bytes = 0
