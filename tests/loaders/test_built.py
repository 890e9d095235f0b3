"""A request's loaders are built at their first use (most requests need a few of the ten)."""

from __future__ import annotations

import asyncio
from asyncio import Future
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from aiodataloader import DataLoader

from app.db import Database
from loaders import HistoryKey, LoaderEnv, Loaders
from loaders.base import Loader
from loaders.rows import History
from loaders.stocks import StockByIdLoader

NOW = datetime(2026, 11, 28, 15, 30, tzinfo=UTC)


async def test_loaders_are_built_at_first_use_and_released_once_built(db: Database) -> None:
    loaders = Loaders.build(LoaderEnv(db=db, now=NOW))
    assert loaders.built() == []
    history = loaders.hourly_history
    assert loaders.built() == [history] and loaders.hourly_history is history
    history.prime(HistoryKey(1, 2), History(()))
    page = loaders.mention_page
    assert loaders.built() == [history, loaders.mention_by_id, page]  # what a page primes too
    loaders.release()
    assert not history._cache and loaders.built() == [history, loaders.mention_by_id, page]


async def test_preset_loaders_must_be_known(db: Database) -> None:
    env = LoaderEnv(db=db, now=NOW)
    with pytest.raises(TypeError, match="unknown loaders: \\['stocks'\\]"):
        Loaders(env, stocks=StockByIdLoader(env))


class Recording(Loader[int, int]):
    """A loader whose batches are recorded (no database is read)."""

    cache_type = "Test"
    cache_ttl_s = 1.0

    def __init__(self, env: LoaderEnv, batches: list[list[int]]) -> None:
        super().__init__(env)
        self.batches = batches

    async def load_batch(self, keys: Sequence[int]) -> list[int]:
        self.batches.append(list(keys))
        return [k * 10 for k in keys]

    def cache_part(self, key: int) -> str:
        return str(key)


class Reference(DataLoader[int, int]):
    """aiodataloader's own DataLoader, scheduling its dispatch its own way."""

    def __init__(self, batches: list[list[int]]) -> None:
        super().__init__()
        self.batches = batches

    async def batch_load_fn(self, keys: list[int]) -> list[int]:
        self.batches.append(list(keys))
        return [k * 10 for k in keys]


async def loads_over_turns(loader: DataLoader[int, int], others: list[Future[Any]]) -> list[int]:
    """Loads spread over turns of the event loop, beside callbacks scheduled by others: which
    keys a batch takes depends on the turn its dispatch runs in."""
    loop = asyncio.get_running_loop()
    futures: list[Future[int]] = []

    def later(key: int) -> None:
        futures.append(loader.load(key))

    for turn in range(6):
        futures.append(loader.load(turn * 2))
        loop.call_soon(later, turn * 2 + 1)
        others.append(asyncio.ensure_future(asyncio.sleep(0)))
        await asyncio.sleep(0)
    return list(await asyncio.gather(*futures))


async def test_a_batch_takes_the_loads_of_the_same_turns_as_aiodataloaders(db: Database) -> None:
    ours: list[list[int]] = []
    theirs: list[list[int]] = []
    others: list[Future[Any]] = []
    values = await loads_over_turns(Recording(LoaderEnv(db=db, now=NOW), ours), others)
    reference = await loads_over_turns(Reference(theirs), others)
    assert values == reference == [k * 10 for k in (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11)]
    assert ours == theirs and len(theirs) > 1  # the same keys batched the same way
