from __future__ import annotations

from app.cache import MemoryBackend
from tests.clock import Clock


async def test_memory_backend_evicts_least_recently_used_past_the_entry_cap() -> None:
    evicted: list[str] = []
    backend = MemoryBackend(max_entries=2, max_bytes=10_000, on_evict=evicted.append)
    await backend.set_many([("a", b"1", 60), ("b", b"2", 60)])
    assert await backend.get_many(["a"]) == [b"1"]  # a is now the most recently used
    await backend.set_many([("c", b"3", 60)])
    assert await backend.get_many(["a", "b", "c"]) == [b"1", None, b"3"]
    assert evicted == ["b"]
    assert len(backend) == 2


async def test_memory_backend_evicts_past_the_byte_cap() -> None:
    backend = MemoryBackend(max_entries=100, max_bytes=50)
    await backend.set_many([(f"k{i}", b"x" * 10, 60) for i in range(5)])
    assert backend.bytes <= 50
    assert await backend.get_many(["k0", "k4"]) == [None, b"x" * 10]


async def test_memory_backend_refuses_a_value_larger_than_the_byte_cap() -> None:
    backend = MemoryBackend(max_entries=100, max_bytes=50)
    await backend.set_many([("big", b"x" * 100, 60)])
    assert await backend.get_many(["big"]) == [None]
    assert backend.bytes == 0


async def test_memory_backend_expires_values_after_their_ttl() -> None:
    clock = Clock()
    backend = MemoryBackend(max_entries=10, max_bytes=10_000, clock=clock)
    await backend.set_many([("a", b"1", 5)])
    clock.now += 4.9
    assert await backend.get_many(["a"]) == [b"1"]
    clock.now += 0.2
    assert await backend.get_many(["a"]) == [None]
    assert backend.bytes == 0


async def test_memory_backend_generations_survive_eviction() -> None:
    backend = MemoryBackend(max_entries=1, max_bytes=10_000)
    await backend.bump_many(["gen:stock:1"])
    await backend.set_many([("a", b"1", 60), ("b", b"2", 60)])
    assert await backend.get_many(["gen:stock:1"]) == [b"1"]


async def test_memory_backend_grants_a_lease_once_until_it_lapses() -> None:
    clock = Clock()
    backend = MemoryBackend(max_entries=10, max_bytes=10_000, clock=clock)
    assert await backend.lease_many(["l1", "l2"], 100) == [True, True]
    assert await backend.lease_many(["l1"], 100) == [False]
    clock.now += 0.2
    assert await backend.lease_many(["l1"], 100) == [True]
