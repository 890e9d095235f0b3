"""A request's loaders are built at their first use (most requests need a few of the ten)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.db import Database
from loaders import HistoryKey, LoaderEnv, Loaders
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
