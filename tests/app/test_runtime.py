from __future__ import annotations

import gc

from app.config import Settings
from app.main import create_app
from app.runtime import NO_AUTOMATIC_FULL
from tests.conftest import serve


async def test_app_raises_the_gc_threshold_and_stops_automatic_full_collections_while_it_runs(
    settings: Settings,
) -> None:
    before = gc.get_threshold()
    tuned = settings.model_copy(update={"gc_gen0_threshold": 50_000, "gc_gen1_threshold": 3})
    async with serve(create_app(tuned)):
        assert gc.get_threshold() == (50_000, 3, NO_AUTOMATIC_FULL)
        assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


async def test_gc_threshold_zero_leaves_the_collector_alone(settings: Settings) -> None:
    before = gc.get_threshold()
    async with serve(create_app(settings.model_copy(update={"gc_gen0_threshold": 0}))):
        assert gc.get_threshold() == before
